"""The command line's vocabulary: what a number, a size or a time may look like.

These are argparse ``type=`` functions.  They check only the *form* of one value
(ASCII digits, a size with its unit, a plain decimal), so that a typo is refused
while the command line is parsed, long before a 15-25 minute build.  Whether the
value is *sensible* (``--smp`` against the kernel's ``CONFIG_NR_CPUS``,
``--seconds`` against ``--timeout``, ``--mb`` against ``--memory``) depends on
other options, the port and the host: :mod:`.validate` checks that, after
parsing and still before any work.

Why not plain ``int``/``float``: ``int()`` accepts ``' 2 '``, ``'1_000'`` and
Arabic-Indic digits (``'١'``), and fails on 5,000 digits with a message about
Python's digit limit; ``float()`` accepts ``nan``, ``inf`` and ``1e400``.  None of
that is something a user means, and none of it should reach QEMU or the guest.

:class:`KernelParser` gives every parse error the driver's one form,
``spfteach: error: <what> (try: spfteach kernel STEP --help)``, exit status 2.
"""

from __future__ import annotations

import argparse
import re
import sys
import types
import unicodedata
from collections.abc import Sequence
from typing import NoReturn

#: More digits than any count here can need, few enough that int() is instant.
MAX_DIGITS = 12
_INTEGER = re.compile(rf"-?[0-9]{{1,{MAX_DIGITS}}}")
_DECIMAL = re.compile(rf"-?[0-9]{{1,{MAX_DIGITS}}}(\.[0-9]{{1,6}})?")
#: QEMU's ``-m`` syntax, narrowed to whole MiB or GiB (a bare number is MiB, as in QEMU).
_SIZE = re.compile(rf"([0-9]{{1,{MAX_DIGITS}}})([MmGg]?)")
SIZE_FORM = "a whole number of MiB or GiB, like 512M or 1G (a bare number is MiB, as for QEMU -m)"


def shown(text: str, width: int = 24) -> str:
    """``text`` quoted for a one-line message: control characters escaped, long text cut."""
    cut = text if len(text) <= width else text[:width] + "..."
    more = f" ({len(text)} characters)" if len(text) > width else ""
    return repr(cut) + more


def _foreign_digits(text: str) -> bool:
    """True when ``text`` has a decimal digit that is not 0-9 (``'١'``, ``'２'``)."""
    return any(unicodedata.category(c) == "Nd" and not ("0" <= c <= "9") for c in text)


def _why_not(text: str, what: str, example: str) -> str:
    """Why ``text`` is not ``what``, in the words most likely to help."""
    if _foreign_digits(text):
        return f"{shown(text)} has digits other than 0-9: write {what} in ASCII digits"
    if re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text):
        return f"{shown(text)} has too many digits to be {what}"
    return f"{shown(text)} is not {what}: write it with the digits 0-9, like {example}"


def integer(text: str) -> int:
    """A whole number in ASCII digits, maybe negative (the range is checked later)."""
    if _INTEGER.fullmatch(text):
        return int(text)
    raise argparse.ArgumentTypeError(_why_not(text, "a whole number", "2"))


def seconds(text: str) -> float:
    """A plain decimal number of seconds: ``300``, ``2.5``; no ``nan``, ``inf`` or exponent."""
    if _DECIMAL.fullmatch(text):
        return float(text)
    raise argparse.ArgumentTypeError(_why_not(text, "a number of seconds", "300 or 2.5"))


def memory(text: str) -> str:
    """A guest RAM size in QEMU's form, normalised: ``512m`` and ``512`` become ``512M``."""
    m = _SIZE.fullmatch(text)
    if m:
        return f"{int(m[1])}{m[2].upper() or 'M'}"
    if _foreign_digits(text):
        raise argparse.ArgumentTypeError(f"{shown(text)} has digits other than 0-9: "
                                         f"write the size as {SIZE_FORM}")
    raise argparse.ArgumentTypeError(f"{shown(text)} is not a memory size: write {SIZE_FORM}")


def mebibytes(size: str) -> int:
    """The MiB of a size :func:`memory` accepted."""
    m = _SIZE.fullmatch(size)
    if not m:
        raise ValueError(f"not a size in {SIZE_FORM}: {size!r}")
    return int(m[1]) * (1024 if m[2].upper() == "G" else 1)


def secs(value: float) -> str:
    """Seconds as the user wrote them: ``300``, ``2.5`` (never ``2.592e+06``)."""
    return f"{value:.0f}" if value == int(value) else f"{value}"


def one_line(message: str) -> str:
    return " ".join(message.split())


class KernelParser(argparse.ArgumentParser):
    """A parser whose every error is ``spfteach: error: ... (try: PROG --help)``, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"spfteach: error: {one_line(message)} (try: {self.prog} --help)\n")

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None,
                         ) -> tuple[argparse.Namespace, list[str]]:
        """Refuse words this parser does not know here, not in the top-level parser.

        argparse hands a sub-command's leftovers up to the top parser, whose message
        names neither the step nor its help and prints the words raw (a newline in
        one would break the one-line promise).
        """
        ns, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error("unrecognized arguments: " + " ".join(shown(e) for e in extras)
                       + ("; only `spfteach kernel boot` takes guest steps after --"
                          if "--" in extras else ""))
        return ns, extras


def adopt(parser: argparse.ArgumentParser) -> None:
    """Give a parser made by another parser class (the main command's) our error form."""
    if not isinstance(parser, KernelParser):
        parser.error = types.MethodType(KernelParser.error, parser)  # type: ignore[method-assign]


def hint_no_step(prog: str, steps: Sequence[str]) -> None:
    """``spfteach kernel`` alone: one line naming the steps, not the whole help."""
    names = ", ".join(steps[:-1]) + f" or {steps[-1]}"
    print(f"spfteach: error: kernel needs a step: {names} (try: {prog} --help)", file=sys.stderr)
