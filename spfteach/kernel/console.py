"""Read a guest run off the serial console: its JSON document and any kernel splat.

QEMU exits 0 even when the guest kernel panics, so the verdict comes from what the
console shows.  Two things are read from it:

* the guest's result: ONE JSON document that ``/init`` prints between a line
  ``===SPFTEACH-JSON-BEGIN===`` and a line ``===SPFTEACH-JSON-END===`` (the
  contract with ``kernel/guest/init.c``; the ``=`` decoration is optional here);
* kernel splats: ``BUG:``, ``WARNING:``, lockdep reports (circular or recursive
  locking, inconsistent lock state, suspicious RCU usage), ``Oops``, ``Kernel
  panic``, general protection faults, KASAN reports (use-after-free, out-of-bounds...),
  soft lockups, RCU stalls and hung tasks.
  The kernel prints most of these at warning level, which ``loglevel=4`` (what
  ``quiet`` sets) hides: the driver boots with ``loglevel=5`` so they reach the
  console.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .errors import KernelError

BEGIN = "SPFTEACH-JSON-BEGIN"
END = "SPFTEACH-JSON-END"


def _is_marker(line: str, marker: str) -> bool:
    return line.strip().strip("=") == marker

#: (kind, pattern): the first pattern that matches a line names its kind.
SPLATS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern)) for kind, pattern in (
        ("lockdep", r"possible circular locking dependency|possible recursive locking"
                    r"|inconsistent lock state|suspicious RCU usage|bad unlock balance"
                    r"|lock held when returning to user space|held lock freed"),
        # KASAN's reports open with "BUG: KASAN: <kind> in <function>"; a wild access
        # the GPF handler decodes reads "KASAN: null-ptr-deref in range [...]".
        ("KASAN", r"\bBUG: KASAN: |\bKASAN: [\w-]+ in |\bKASAN: maybe wild-memory-access"),
        ("BUG", r"\bBUG: |kernel BUG at "),
        ("WARNING", r"\bWARNING: |\bWARNING at "),
        ("Oops", r"\bOops\b"),
        ("panic", r"Kernel panic"),
        ("general protection fault", r"general protection fault"),
        ("soft lockup", r"soft lockup - CPU#"),
        ("RCU stall", r"rcu: INFO: .*detected stalls?|self-detected stall"),
        ("hung task", r"blocked for more than \d+ seconds"),
    ))

_PRINTK = re.compile(r"^\[\s*\d+\.\d+\]")


_FRAME = re.compile(r"^(?:\[\s*\d+\.\d+\]\s*)?(\?\s+)?([A-Za-z_][\w.]*)\+0x[0-9a-f]+/0x")


@dataclass(frozen=True)
class Splat:
    kind: str
    line_no: int  # 1-based line of the console log
    text: str
    trace: tuple[str, ...] = ()  # the first reliable frames of the call trace that follows

    def __str__(self) -> str:
        via = f" (in {' <- '.join(self.trace)})" if self.trace else ""
        return f"{self.kind} at console line {self.line_no}: {self.text}{via}"


def call_trace(lines: list[str], start: int, frames: int = 4) -> tuple[str, ...]:
    """Function names of the 'Call Trace:' after line ``start``, skipping '?' guesses."""
    for i in range(start, min(start + 80, len(lines))):
        if "Call Trace:" in lines[i]:
            names = []
            for line in lines[i + 1:i + 40]:
                m = _FRAME.match(line.strip())
                if m and not m[1]:
                    names.append(m[2])
                elif names and "<" in line and "/TASK>" in line:
                    break
                if len(names) == frames:
                    break
            return tuple(names)
    return ()


def lines_of(console: str) -> list[str]:
    """Console text as lines, without the serial port's carriage returns."""
    return console.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _json_span(lines: list[str]) -> tuple[int, int] | None:
    """Line indexes (begin, end) of the last BEGIN and the END after it; end -1 if missing."""
    begins = [i for i, ln in enumerate(lines) if _is_marker(ln, BEGIN)]
    if not begins:
        return None
    b = begins[-1]
    end = next((i for i in range(b + 1, len(lines)) if _is_marker(lines[i], END)), -1)
    return b, end


def extract_json(console: str, log: str = "the console log") -> dict:
    """The guest's JSON document; KernelError saying what is wrong when there is none."""
    lines = lines_of(console)
    span = _json_span(lines)
    if span is None:
        raise KernelError(f"the guest printed no {BEGIN} line, so no result: the kernel or "
                          f"/init died before the end (see {log})")
    b, e = span
    if e < 0:
        raise KernelError(f"the guest began its JSON document but never printed {END}: it "
                          f"crashed or was cut off mid-way (see {log})")
    body = lines[b + 1:e]
    try:
        doc = json.loads("\n".join(body))
    except ValueError:
        # A kernel message may land between the guest's lines on the shared console.
        try:
            doc = json.loads("\n".join(ln for ln in body if not _PRINTK.match(ln)))
        except ValueError as err:
            raise KernelError(f"the guest's JSON document does not parse ({err}); see "
                              f"{log}") from None
    if not isinstance(doc, dict):
        raise KernelError(f"the guest's JSON document is a {type(doc).__name__}, not an object")
    return doc


def scan_splats(console: str) -> list[Splat]:
    """Every line that reports a kernel problem, outside the guest's JSON document."""
    lines = lines_of(console)
    span = _json_span(lines)
    skip = range(span[0], span[1] + 1) if span and span[1] >= 0 else range(0)
    found = []
    for i, line in enumerate(lines):
        if i in skip:
            continue
        for kind, pattern in SPLATS:
            if pattern.search(line):
                found.append(Splat(kind, i + 1, line.strip(),
                                   call_trace(lines, i) if not found else ()))
                break
    return found
