"""The C text the widgets show, shipped in the package: ``spfteach/data/c-excerpts.json``.

A widget that steps through a race shows, for each thread, the C function it is
in with the current line highlighted.  The C lives in the patched kernel tree,
which is 1.5 GB and takes a fetch to make, so a student opening the workbook has
none.  This module cuts out of a patched tree just what the model visits — for
each function some :class:`~spfteach.model.task.Src` names, its whole text from
signature to closing brace, comments kept (students read the comments), and for
each Src the line :func:`spfteach.csource.csrc.resolve` finds — and :func:`load` reads it
back with no tree at all.

Regenerating from the same tree gives the same bytes (everything is sorted), so
``python -m spfteach.csource.excerpts --check`` and the kernel test can hold the shipped
file to the C, and a change to the model or to a patch shows up as a diff.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import resources
from ..model.task import Src
from . import csrc

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

#: the checkout (the kernel trees and the port are there, never in an installed package)
REPO = Path(__file__).resolve().parents[2]
NAME, NAME_612 = "c-excerpts.json", "c-excerpts-6.12.json"
#: what the widgets read, wherever the package is installed (:mod:`spfteach.resources`)
DATA = resources.resource(NAME)
#: the per-VMA design's steps, cut from Debian's linux-source-6.12 (``Src.tree == "6.12"``)
DATA_612 = resources.resource(NAME_612)
DEFAULT_TREE_612 = REPO / "kernel" / "build" / "linux-6.12"
PATCHES = REPO / "kernel" / "patches"
DEFAULT_TREE = REPO / "kernel" / "build" / "linux"
#: Bumped when the layout of the file changes, so an old file is refused, not misread.
FORMAT = 1
REGENERATE = "run `python -m spfteach.csource.excerpts` on a built tree (`spfteach kernel fetch`)"

_SrcKey = tuple[str, str, str, str]


class ExcerptError(LookupError):
    """The shipped excerpts cannot answer: missing, stale or not a kernel tree."""


# --- building, from a patched tree ---

_MAKEVAR = re.compile(r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)\s*=\s*(\S*)\s*$", re.M)


def linux_version(tree: Path) -> str:
    """``6.1.192``, from the tree's top Makefile: the line numbers are only true of
    this version, so the file says which one it was cut from.  (The Debian
    revision of linux-source-6.1 is not recorded in the unpacked tree.)"""
    try:
        text = (tree / "Makefile").read_text(errors="replace")
    except OSError as e:
        raise ExcerptError(f"{tree} is not a kernel tree: no readable Makefile "
                           f"({e.strerror or e})") from None
    found = dict(_MAKEVAR.findall(text))
    if not {"VERSION", "PATCHLEVEL", "SUBLEVEL"} <= found.keys():
        raise ExcerptError(f"{tree}/Makefile has no VERSION, PATCHLEVEL and SUBLEVEL: "
                           "not a kernel tree")
    return (f"{found['VERSION']}.{found['PATCHLEVEL']}.{found['SUBLEVEL']}"
            f"{found.get('EXTRAVERSION', '')}")


def patches_sha256(patches: Path = PATCHES) -> str:
    """SHA-256 over the name and content of every ``*.patch`` of the port, by name:
    the series the tree is meant to carry, so a patch edited since the file was
    cut shows up in ``--check`` even where no modelled line moved."""
    h = hashlib.sha256()
    for p in sorted(patches.glob("*.patch")):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _key(src: Src) -> _SrcKey:
    return (src.file, src.function, src.snippet, src.after)


def build_612(tree: Path) -> dict[str, Any]:
    """The per-VMA design's excerpts, from an unpacked linux-source-6.12 (no patches: the
    file records the version only)."""
    data = build(tree, csrc.per_vma_sources())
    data["tree"] = {"linux_version": data["tree"]["linux_version"]}
    return data


def build(tree: Path, srcs: Iterable[Src] | None = None) -> dict[str, Any]:
    """The excerpts of ``tree`` for ``srcs`` (default: every Src of the model), as a
    JSON-friendly dict in a fixed order.  Raises :class:`csrc.SrcError` listing
    every Src that does not resolve: a file that skips one would be wrong."""
    version = linux_version(tree)  # first: a tree that is no kernel fails in one line
    wanted = sorted(set(csrc.model_sources() if srcs is None else srcs), key=_key)
    resolved: list[tuple[Src, int]] = []
    errors = []
    for src in wanted:
        try:
            resolved.append((src, csrc.resolve(src, tree).line))
        except csrc.SrcError as e:
            errors.append(str(e))
    if errors:
        raise csrc.SrcError(f"{len(errors)} model snippets do not resolve in {tree}:\n"
                            + "\n".join(errors))
    functions: dict[str, dict[str, Any]] = {}
    for file, function in sorted({(s.file, s.function) for s, _ in resolved}):
        body = csrc.function_body(tree / file, function)
        functions[f"{file}:{function}"] = {"file": file, "function": function,
                                           "first_line": body[0][0],
                                           "lines": [t for _, t in body]}
    return {"format": FORMAT,
            "tree": {"linux_version": version, "patches_sha256": patches_sha256()},
            "functions": functions,
            "srcs": [{"file": s.file, "function": s.function, "snippet": s.snippet,
                      "after": s.after, "line": line} for s, line in resolved]}


def dumps(data: dict[str, Any]) -> str:
    """The one text of ``data``: sorted keys, ``indent=1``, a trailing newline."""
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write(tree: Path, path: Path, per_vma: bool = False) -> Path:
    """Cut the excerpts out of ``tree`` and write them to ``path`` (atomically: a
    failed build leaves the shipped file as it was); ``per_vma``: the 6.12 file."""
    text = dumps(build_612(tree) if per_vma else build(tree))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def differences(tree: Path, path: Path | Traversable = DATA,
                per_vma: bool = False) -> list[str]:
    """One line per way the file at ``path`` differs from what ``tree`` gives."""
    want = build_612(tree) if per_vma else build(tree)
    name = _shown(path)
    try:
        text = path.read_text(encoding="utf-8")
        have = json.loads(text)
    except OSError as e:
        return [f"{name}: cannot be read ({e.strerror or e}); {REGENERATE}"]
    except ValueError as e:
        return [f"{name}: not JSON ({e}); {REGENERATE}"]
    if not isinstance(have, dict):
        return [f"{name}: not an excerpts file; {REGENERATE}"]
    out = []
    if have.get("format") != FORMAT:
        out.append(f"{name}: format {have.get('format')!r}, this spfteach writes {FORMAT}")
    have_tree = have.get("tree") if isinstance(have.get("tree"), dict) else {}
    for k, v in want["tree"].items():
        if have_tree.get(k) != v:
            out.append(f"{name}: tree.{k} is {have_tree.get(k)!r}, now {v!r}")
    have_fns = have.get("functions") if isinstance(have.get("functions"), dict) else {}
    for k in sorted(have_fns.keys() | want["functions"].keys()):
        if k not in have_fns:
            out.append(f"{name}: {k}() missing")
        elif k not in want["functions"]:
            out.append(f"{name}: {k}() is not visited by the model any more")
        elif have_fns[k] != want["functions"][k]:
            out.append(f"{name}: {k}() differs: {_diff_fn(have_fns[k], want['functions'][k])}")
    have_srcs = {}
    for s in have.get("srcs") or []:
        try:
            have_srcs[(s["file"], s["function"], s["snippet"], s["after"])] = s.get("line")
        except (KeyError, TypeError):
            out.append(f"{name}: a malformed srcs entry {s!r}")
    want_srcs = {(s["file"], s["function"], s["snippet"], s["after"]): s["line"]
                 for s in want["srcs"]}
    for k in sorted(have_srcs.keys() | want_srcs.keys()):
        label = _label(*k)
        if k not in have_srcs:
            out.append(f"{name}: {label} missing (line {want_srcs[k]})")
        elif k not in want_srcs:
            out.append(f"{name}: {label} is not a step of the model any more")
        elif have_srcs[k] != want_srcs[k]:
            out.append(f"{name}: {label} is on line {have_srcs[k]}, the tree has it on "
                       f"line {want_srcs[k]}")
    if not out and text != dumps(want):
        out.append(f"{name}: same content, but not as "
                   "`python -m spfteach.csource.excerpts` writes it")
    return out


def _diff_fn(have: dict[str, Any], want: dict[str, Any]) -> str:
    """Where a function's shipped text first parts from the tree's."""
    if not isinstance(have.get("lines"), list) or not isinstance(have.get("first_line"), int):
        return "malformed entry"
    h0, w0 = have["first_line"], want["first_line"]
    hl, wl = have["lines"], want["lines"]
    span = f"lines {h0}-{h0 + len(hl) - 1}, the tree has {w0}-{w0 + len(wl) - 1}"
    for i, (a, b) in enumerate(zip(hl, wl, strict=False)):
        if a != b:
            return f"{span}; first different line: {w0 + i} {b.strip()!r}"
    return span


def _label(file: str, function: str, snippet: str, after: str) -> str:
    return f"{file}:{function}(): `{snippet}`" + (f" after `{after}`" if after else "")


def _quoted(text: str, width: int = 100) -> str:
    """A path for a one-line message: as it is if printable and short, else quoted and cut."""
    if text.isprintable() and len(text) <= width:
        return text
    cut = text if len(text) <= width else text[:width] + "..."
    return repr(cut) + (f" ({len(text)} characters)" if len(text) > width else "")


def _shown(path: Path | Traversable) -> str:
    if not isinstance(path, Path):  # inside an installed package that is not a directory
        return f"spfteach/data/{path.name}"
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


# --- loading, with no tree ---

@dataclass(frozen=True)
class Excerpt:
    """One C function as the tree had it: ``lines[0]`` is line ``first_line`` of ``file``."""

    file: str
    function: str
    first_line: int
    lines: tuple[str, ...]

    @property
    def last_line(self) -> int:
        return self.first_line + len(self.lines) - 1

    def __contains__(self, line: object) -> bool:
        return isinstance(line, int) and self.first_line <= line <= self.last_line

    def text_at(self, line: int) -> str:
        """The text of absolute line ``line`` of the file (it must be in this function)."""
        if line not in self:
            raise ExcerptError(f"{self.file}:{line} is not in {self.function}() "
                               f"(lines {self.first_line}-{self.last_line})")
        return self.lines[line - self.first_line]

    def numbered(self) -> Iterator[tuple[int, str]]:
        """(line number, text) for each line, as :func:`csrc.function_body` gives them."""
        return enumerate(self.lines, self.first_line)


@dataclass(frozen=True)
class Excerpts:
    """The shipped excerpts: functions by (file, function), Src lines by Src."""

    origin: str
    tree: dict[str, Any]
    functions: dict[tuple[str, str], Excerpt]
    lines: dict[_SrcKey, int]

    @classmethod
    def from_data(cls, data: Any, origin: str = "c-excerpts") -> Excerpts:
        """Read the dict :func:`build` gives; refuse a file of another format."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ExcerptError(f"{origin}: format {got!r}, this spfteach reads {FORMAT}; "
                               f"{REGENERATE}")
        try:
            fns = {(f["file"], f["function"]): Excerpt(f["file"], f["function"],
                                                       int(f["first_line"]), tuple(f["lines"]))
                   for f in data["functions"].values()}
            lines = {(s["file"], s["function"], s["snippet"], s["after"]): int(s["line"])
                     for s in data["srcs"]}
            return cls(origin, dict(data["tree"]), fns, lines)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ExcerptError(f"{origin}: malformed ({type(e).__name__}: {e}); "
                               f"{REGENERATE}") from None

    def function(self, file: str, function: str) -> Excerpt:
        """The text of ``function`` in ``file``."""
        try:
            return self.functions[(file, function)]
        except KeyError:
            raise ExcerptError(f"{self.origin} has no excerpt of {file}:{function}(): "
                               f"the model visits it but the file is older; {REGENERATE}"
                               ) from None

    def line_of(self, src: Src) -> int:
        """The absolute line of ``src`` in its file (what ``csrc.resolve`` gave)."""
        try:
            return self.lines[_key(src)]
        except KeyError:
            raise ExcerptError(f"{self.origin} has no line for {_label(*_key(src))}: "
                               f"the model has a step the file does not; {REGENERATE}"
                               ) from None

    def locate(self, src: Src) -> tuple[Excerpt, int]:
        """The function ``src`` is in, and its line: what a widget highlights."""
        return self.function(src.file, src.function), self.line_of(src)


@lru_cache(maxsize=4)
def load(path: Path | Traversable = DATA) -> Excerpts:
    """The shipped excerpts (read once per path)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ExcerptError(f"{_shown(path)} cannot be read ({e.strerror or e}); "
                           f"{REGENERATE}") from None
    except ValueError as e:
        raise ExcerptError(f"{_shown(path)} is not JSON ({e}); {REGENERATE}") from None
    return Excerpts.from_data(data, _shown(path))


def locate(src: Src) -> tuple[Excerpt, int]:
    """The function ``src`` is in and its line, from the file of its tree (the port's, or
    6.12's for the per-VMA design)."""
    return load(DATA_612 if src.tree == "6.12" else DATA).locate(src)


# --- command line ---

USAGE = "usage: python -m spfteach.csource.excerpts [--check] [--per-vma] [TREE]"


def main(argv: list[str] | None = None) -> int:
    """``python -m spfteach.csource.excerpts [TREE]`` rewrites ``spfteach/data/c-excerpts.json``
    (in the checkout) from a patched tree; with ``--check`` it writes nothing and exits 1 if the
    file differs. ``--per-vma``: ``spfteach/data/c-excerpts-6.12.json`` from Debian's
    linux-source-6.12 (default ``kernel/build/linux-6.12``, what ``spfteach kernel fetch
    --variant v6.12`` unpacks)."""
    args = sys.argv[1:] if argv is None else argv
    check = per_vma = False
    trees = []
    for a in args:
        if a == "--check":
            check = True
        elif a == "--per-vma":
            per_vma = True
        elif a in ("-h", "--help"):
            print(f"{USAGE}\n\n{main.__doc__}")
            return 0
        elif a.startswith("-") and a != "-":
            print(f"spfteach.csource.excerpts: error: unknown option {a!r} ({USAGE})",
                  file=sys.stderr)
            return 2
        else:
            trees.append(a)
    if len(trees) > 1:
        print(f"spfteach.csource.excerpts: error: one TREE at most, got {len(trees)} ({USAGE})",
              file=sys.stderr)
        return 2
    tree = Path(trees[0]) if trees else (DEFAULT_TREE_612 if per_vma else DEFAULT_TREE)
    shipped = DATA_612 if per_vma else DATA
    target = None
    if not check:  # a developer tool: it rewrites the checkout's copy, git shows the change
        try:
            target = resources.checkout_data("python -m spfteach.csource.excerpts") / (
                NAME_612 if per_vma else NAME)
        except resources.NotACheckout as e:
            print(f"spfteach.csource.excerpts: error: {e}", file=sys.stderr)
            return 2
    try:
        is_tree = (tree / "mm" / "memory.c").is_file()
    except OSError:  # a name too long for the file system, say
        is_tree = False
    if not is_tree:
        print(f"spfteach.csource.excerpts: error: {_quoted(str(tree))} is not a kernel tree (run "
              "`spfteach kernel fetch`, or give the tree as the argument)", file=sys.stderr)
        return 2
    try:
        linux_version(tree)
        if target is None:
            diffs = differences(tree, shipped, per_vma)
            for d in diffs:
                print(d)
            if not diffs:
                print(f"{_shown(shipped)} matches {tree}")
            return 1 if diffs else 0
        path = write(tree, target, per_vma)
    except ExcerptError as e:
        print(f"spfteach.csource.excerpts: error: {e}", file=sys.stderr)
        return 2
    except csrc.SrcError as e:
        print(f"spfteach.csource.excerpts: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"spfteach.csource.excerpts: error: {_quoted(str(e.filename or target or shipped))}: "
              f"{e.strerror or e}", file=sys.stderr)
        return 2
    data = json.loads(path.read_text(encoding="utf-8"))
    print(f"wrote {_shown(path)}: {len(data['functions'])} functions, {len(data['srcs'])} "
          f"statements, {path.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BrokenPipeError:
        raise SystemExit(0) from None
