"""The series' order, file names and subjects, shipped in the package: ``patches.json``.

Notebook 7 lists our patches with their subjects, and shows one hunk of the seed patch as C
(:data:`SHOWN_HUNKS`). The port itself (``kernel/patches/``, 14
patches, 300 KB) stays in the checkout, where the kernel is built: a wheel on a hub carries
this list instead, read through :mod:`spfteach.resources`, so the patches are not shipped
twice. ``python -m spfteach.kernel.subjects --write`` regenerates it from the port, and
``--check`` (the test in ``tests/engine/test_shipped_subjects.py``) says when it is stale.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from .. import resources
from .errors import KernelError
from .patches import read_series

#: the package's list of the series (notebook 7 shows it): the kernel port itself stays in the
#: checkout, so a wheel on a hub carries its order, file names and subjects, not the patches twice
SUBJECTS = "patches.json"
_SUBJECT = re.compile(r"^Subject: (?:\[PATCH[^\]]*\] )?(.*(?:\n[ \t].*)*)", re.M)
#: the hunks notebook 7 shows: (a word of the patch's file name, text of the hunk's @@ line)
SHOWN_HUNKS = (("provide-the-speculative-page-fault-handler",
                "handle_pte_fault(struct vm_fault *vmf)"),)
USAGE = "usage: python -m spfteach.kernel.subjects --write | --check"


def subjects(series: Path) -> list[dict[str, object]]:
    """The series in order: number (from 1), file name and subject (its folded lines joined)."""
    out: list[dict[str, object]] = []
    for n, entry in enumerate(read_series(series, str(series)), 1):
        m = _SUBJECT.search(entry.patch.read_text(encoding="utf-8", errors="replace"))
        if m is None:
            raise KernelError(f"{entry.patch.name} has no Subject: line: is it a "
                              "`git format-patch` patch?")
        out.append({"number": n, "file": entry.patch.name, "subject": " ".join(m[1].split())})
    return out


def hunk(patch: Path, header_contains: str) -> str:
    """The first hunk of ``patch`` whose ``@@`` line contains ``header_contains``."""
    text = patch.read_text(encoding="utf-8").split("\n-- \n")[0]
    for h in re.split(r"(?m)^(?=@@ )", text):
        if h.startswith("@@") and header_contains in h.splitlines()[0]:
            return h
    raise KernelError(f"{patch.name} has no hunk whose @@ line contains {header_contains!r}: "
                      "update SHOWN_HUNKS in spfteach/kernel/subjects.py and notebook 7")


def shown_hunks(series: Path, listed: list[dict[str, object]]) -> list[dict[str, str]]:
    """The hunks of :data:`SHOWN_HUNKS`, each with its patch's file name."""
    out = []
    for word, header in SHOWN_HUNKS:
        names = [str(p["file"]) for p in listed if word in str(p["file"])]
        if len(names) != 1:
            raise KernelError(f"{len(names)} patches of the series have {word!r} in their "
                              "name, not one: update SHOWN_HUNKS in spfteach/kernel/subjects.py")
        out.append({"file": names[0], "header": header,
                    "text": hunk(series.parent / names[0], header)})
    return out


def dumps(series: Path) -> str:
    """The text of ``patches.json`` for ``series`` (the same series gives the same bytes)."""
    listed = subjects(series)
    return json.dumps({"series": "kernel/patches/series", "patches": listed,
                       "hunks": shown_hunks(series, listed)}, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``--write`` rewrites the checkout's ``spfteach/data/patches.json`` from
    ``kernel/patches/``; ``--check`` exits 1 when the shipped file is not what the series gives
    (a patch added, renamed or retitled since it was written)."""
    args = sys.argv[1:] if argv is None else argv
    prog = "python -m spfteach.kernel.subjects"
    if args not in (["--write"], ["--check"]):
        print(f"{prog}: error: {USAGE}", file=sys.stderr)
        return 2
    root = resources.checkout()
    if root is None:
        print(f"{prog}: error: the kernel port (kernel/patches/) is in a checkout of spfteach, "
              "and this one is installed without it: run it from a git checkout", file=sys.stderr)
        return 2
    try:
        text = dumps(root / "kernel" / "patches" / "series")
    except (KernelError, OSError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    if args == ["--check"]:
        same = resources.resource(SUBJECTS).read_text(encoding="utf-8") == text
        print(f"spfteach/data/{SUBJECTS} " + ("matches kernel/patches/" if same else
                                             f"is stale: run `{prog} --write`"))
        return 0 if same else 1
    out = resources.checkout_data_or_exit(prog) / SUBJECTS
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}: {len(json.loads(text)['patches'])} patches")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
