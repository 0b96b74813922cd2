"""Read a quilt ``series`` and its patches: which files and hunks each patch touches,
and what GNU patch's complaints mean in terms a user can act on.

The apply step needs to know every file a series touches before it applies it (to
keep a pristine copy, see :mod:`spfteach.kernel.source`), and when a hunk fails it
should say *which* hunk of *which* file, with the function name from the hunk
header, instead of pasting patch's output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .errors import KernelError


@dataclass(frozen=True)
class SeriesEntry:
    """One line of ``series``: a patch file and its ``-pN`` strip level (quilt's default 1)."""

    patch: Path
    strip: int = 1
    line: int = 0


@dataclass(frozen=True)
class Hunk:
    file: str
    number: int  # 1-based, counted per file, as GNU patch numbers them
    header: str  # the "@@ -a,b +c,d @@ context" line


@dataclass
class PatchInfo:
    files: list[str] = field(default_factory=list)
    hunks: list[Hunk] = field(default_factory=list)

    def add(self, path: str | None) -> None:
        if path and path not in self.files:
            self.files.append(path)


def read_series(series: Path, show: str) -> list[SeriesEntry]:
    """Parse a quilt series file; comments start with '#', options follow the name."""
    entries = []
    for no, raw in enumerate(series.read_text().splitlines(), 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        strip = 1
        for opt in words[1:]:
            m = re.fullmatch(r"-p(\d+)", opt)
            if not m:
                raise KernelError(f"{show}:{no}: unknown option {opt!r} after {words[0]} "
                                  "(quilt series lines are: NAME.patch [-pN])")
            strip = int(m[1])
        patch = series.parent / words[0]
        if not patch.is_file():
            raise KernelError(f"{show}:{no} names {words[0]}, which does not exist in "
                              f"{series.parent}")
        entries.append(SeriesEntry(patch, strip, no))
    return entries


def _header_path(text: str, strip: int) -> str | None:
    name = text.split("\t", 1)[0].strip().strip('"')
    if name == "/dev/null":
        return None
    parts = PurePosixPath(name).parts[strip:]
    return _safe(str(PurePosixPath(*parts))) if parts else None


def _safe(path: str) -> str:
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts:
        raise KernelError(f"patch names a path outside the tree: {path}")
    return path


_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def parse_patch(text: str, strip: int = 1) -> PatchInfo:
    """The files a unified/git diff touches (old and new names) and its hunks, in order.

    Hunk bodies are skipped by their line counts, so a removed line that happens to
    start with '-- ' is not mistaken for a file header.
    """
    info = PatchInfo()
    per_file: dict[str, int] = {}
    lines = text.splitlines()
    current: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(("rename from ", "rename to ", "copy from ", "copy to ")):
            info.add(_safe(line.split(" ", 2)[2].strip()))
        elif line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            old, new = _header_path(line[4:], strip), _header_path(lines[i + 1][4:], strip)
            info.add(old)
            info.add(new)
            current = new or old
            i += 2
            continue
        elif current and (m := _HUNK.match(line)):
            per_file[current] = per_file.get(current, 0) + 1
            info.hunks.append(Hunk(current, per_file[current], line.strip()))
            old_left = int(m[1]) if m[1] is not None else 1
            new_left = int(m[2]) if m[2] is not None else 1
            i += 1
            while i < len(lines) and (old_left > 0 or new_left > 0):
                body = lines[i]
                if body.startswith("\\"):  # "\ No newline at end of file"
                    pass
                elif body.startswith(" ") or body == "":
                    old_left, new_left = old_left - 1, new_left - 1
                elif body.startswith("-"):
                    old_left -= 1
                elif body.startswith("+"):
                    new_left -= 1
                else:
                    break
                i += 1
            continue
        i += 1
    return info


def offsets(output: str) -> list[str]:
    """Hunks GNU patch placed at another line than the patch says ('file hunk #N +K lines')."""
    found, current = [], "?"
    for line in output.splitlines():
        if m := re.match(r"(?:checking|patching) file '?(.+?)'?$", line):
            current = m[1]
        elif m := re.match(r"Hunk #(\d+) succeeded at \d+ \(offset (-?\d+) lines?\)", line):
            found.append(f"{current} hunk #{m[1]} {int(m[2]):+d} lines")
    return found


def _context(hunk: Hunk | None) -> str:
    if hunk is None:
        return ""
    tail = hunk.header.split("@@", 2)[-1].strip()
    return f" (in `{tail[:60]}`)" if tail else f" ({hunk.header[:40]})"


def explain_failure(output: str, info: PatchInfo) -> str:
    """Turn GNU patch's output into '<file>: hunk #N FAILED at L (in `function`)' items."""
    hunks = {(h.file, h.number): h for h in info.hunks}
    problems: list[str] = []
    current = "?"
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if m := re.match(r"(?:checking|patching) file '?(.+?)'?$", line):
            current = m[1]
        elif m := re.match(r"Hunk #(\d+) FAILED at (\d+)", line):
            n = int(m[1])
            problems.append(f"{current} hunk #{n} FAILED at line {m[2]}"
                            f"{_context(hunks.get((current, n)))}")
        elif line.startswith("can't find file to patch"):
            name = next((ln[5:].split("\t")[0] for ln in lines[i:i + 8]
                         if ln.startswith("|--- ")), "?")
            problems.append(f"{name}: no such file in the tree (wrong -p level, or a file an "
                            "earlier patch should create)")
        elif line.startswith("Reversed (or previously applied) patch detected"):
            problems.append(f"{current}: looks already applied (or reversed)")
        elif m := re.match(r"The next patch would create the file (.+), which already", line):
            problems.append(f"{m[1]}: would be created but already exists")
        elif line.startswith("patch: **** "):
            problems.append(line[len("patch: **** "):].strip())
    if not problems:
        tail = [ln for ln in lines if ln.strip()]
        return tail[-1].strip() if tail else "patch failed without saying why"
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return "; ".join(problems[:3]) + more
