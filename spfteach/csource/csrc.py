"""The link between the model and the C: resolve a ``Src`` to its line.

Every step of the model names a kernel file, a function and a snippet of the C
statement it mirrors.  :func:`resolve` finds the function in a (patched)
kernel tree and the one line of its body that holds the snippet — so a test can
hold the model to the port, and a widget can show the real line being
executed.  :func:`model_sources` lists every ``Src`` the model can yield: the
ones written as literals in ``spfteach/model`` (read from the source, so none
is missed for not being executed) plus those seen while exploring the
scenarios (for the few built from variables).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from ..model.task import Src

MODEL = Path(__file__).resolve().parents[1] / "model"


class SrcError(LookupError):
    """A snippet that does not resolve to exactly one line."""


@dataclass(frozen=True)
class Resolved:
    src: Src
    path: Path
    line: int  # 1-based
    text: str


_DEF = re.compile(r"^(?:[A-Za-z_].*?\b)?(?P<name>[A-Za-z_]\w*)\s*\(")
#: ``SYSCALL_DEFINEn(name, ...)`` defines ``__do_sys_name()``: the body is found
#: under that name.
_SYSCALL = re.compile(r"^SYSCALL_DEFINE\d\((?P<name>\w+)\s*[,)]")


def function_body(path: Path, function: str) -> list[tuple[int, str]]:
    """Lines (number, text) of ``function``'s definition in a C file: from its
    signature to the closing brace at column 0.  Macros that define functions
    and prototypes are skipped (a definition has a ``{`` before any ``;``),
    except ``SYSCALL_DEFINEn(name, ...)``, whose body is ``__do_sys_name()``."""
    lines = path.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        m = _SYSCALL.match(line)
        if m and "__do_sys_" + m.group("name") == function:
            pass
        elif not (m := _DEF.match(line)) or m.group("name") != function:
            continue
        # the signature may span lines; a prototype ends with ';' before any '{'
        j = i
        while j < len(lines) and "{" not in lines[j] and ";" not in lines[j]:
            j += 1
        if j >= len(lines) or "{" not in lines[j]:
            continue
        k = j
        while k < len(lines) and lines[k] != "}":
            k += 1
        return [(n + 1, lines[n]) for n in range(i, min(k + 1, len(lines)))]
    raise SrcError(f"{path.name}: no definition of {function}()")


def code_only(body: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The body with comments blanked out (``/* ... */`` across lines, ``//``), string
    and character literals kept: a snippet or an anchor must match *code*, never
    the words of a comment that happens to name the statement."""
    out = []
    in_comment = False
    for n, line in body:
        code = []
        i = 0
        quote = ""
        while i < len(line):
            c = line[i]
            if in_comment:
                if line.startswith("*/", i):
                    in_comment = False
                    i += 2
                    code.append("  ")
                    continue
                code.append(" ")
            elif quote:
                code.append(c)
                if c == "\\" and i + 1 < len(line):
                    code.append(line[i + 1])
                    i += 1
                elif c == quote:
                    quote = ""
            elif line.startswith("/*", i):
                in_comment = True
                code.append("  ")
                i += 2
                continue
            elif line.startswith("//", i):
                break
            else:
                if c in "\"'":
                    quote = c
                code.append(c)
            i += 1
        out.append((n, "".join(code)))
    return out


def resolve(src: Src, tree: Path) -> Resolved:
    """The one line of ``src.function`` in ``tree/src.file`` whose code (comments
    left out) holds the snippet; with ``after``, the first such line after the
    one line holding the anchor."""
    path = tree / src.file
    if not path.exists():
        raise SrcError(f"{src.file} does not exist in {tree}")
    for part, text in (("snippet", src.snippet), ("anchor", src.after)):
        if "/*" in text or "*/" in text or "//" in text:
            raise SrcError(f"{src.file}:{src.function}(): the {part} {text!r} holds a comment; "
                           "name the code only")
    raw = function_body(path, src.function)
    text_of = dict(raw)
    body = code_only(raw)
    if src.after:
        starts = [i for i, (_, t) in enumerate(body) if src.after in t]
        if len(starts) != 1:
            raise SrcError(f"{src.file}:{src.function}(): the anchor {src.after!r} is on "
                           f"{len(starts)} lines of code, not 1")
        body = body[starts[0] + 1:]
        hits = [(n, t) for n, t in body if src.snippet in t][:1]
    else:
        hits = [(n, t) for n, t in body if src.snippet in t]
    if len(hits) != 1:
        where = ", ".join(str(n) for n, _ in hits)
        raise SrcError(f"{src.file}:{src.function}(): {src.snippet!r} is on {len(hits)} "
                       f"lines of code{' (' + where + ')' if hits else ''}, not 1")
    return Resolved(src, path, hits[0][0], text_of[hits[0][0]])


#: Places where the C goes back to an earlier line of a function within one call
#: (a loop, a retry label), or where one caller calls the same function twice in
#: a row: (function, line it leaves, line it goes back to) by their snippets.
BACKWARD_OK: dict[str, str] = {
    "zap_pte_range": "unmap_region() zaps one pte table after the other",
    "change_pte_range": "change_protection() rewrites one pte table after the other",
    "free_pte_range": "free_pgtables() unlinks one table after the other",
    "free_pmd_range": "free_pgtables() unlinks one table after the other",
    "free_pud_range": "free_pgtables() unlinks one table after the other",
    "free_p4d_range": "free_pgtables() unlinks one table after the other",
    "native_flush_tlb_multi": "a writer flushes the TLB more than once",
    "tlb_flush_mmu": "a writer flushes the TLB more than once",
    "find_vma": "a writer looks a VMA up more than once",
    "get_vma": "one thread takes several faults",
    "__handle_mm_fault": "the walk allocates one level after the other (a loop in the model)",
    # 6.12, the per-VMA design
    "vma_start_write": "a writer write-locks more than one VMA (mremap: the new, then the old)",
    "lock_vma_under_rcu": "goto retry: the VMA it found left the tree; look again",
}


def visit_order_errors(steps: list[tuple[Src, int]]) -> list[str]:
    """Where one thread's visited C lines go backwards within one call.

    ``steps``: the thread's (Src, resolved line) in order.  A call of a function
    is followed with a stack: a step in the function on top goes on in that call;
    a step in a function lower in the stack returns to it; any other function is
    a new call.  Within a call the lines must go forward, except in the functions
    of :data:`BACKWARD_OK`."""
    errors: list[str] = []
    stack: list[list] = []  # [function, last line, last snippet]
    for src, line in steps:
        fn = src.function
        names = [f for f, _, _ in stack]
        if fn in names:
            while stack[-1][0] != fn:
                stack.pop()
            top = stack[-1]
            if line < top[1] and fn not in BACKWARD_OK:
                errors.append(f"{src.file}:{fn}(): line {line} `{src.snippet}` after line "
                              f"{top[1]} `{top[2]}` in the same call")
            top[1], top[2] = line, src.snippet
        else:
            stack.append([fn, line, src.snippet])
    return errors


def _literal_srcs(path: Path) -> set[Src]:
    """``Src(...)`` calls and module helpers ``_s(fn, snippet[, after])`` whose
    arguments are string literals."""
    tree = ast.parse(path.read_text())
    consts = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
              for t in n.targets if isinstance(t, ast.Name)
              and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)}
    # what file a module's _s() helper puts first: Src(F, fn, snippet, ...)
    helper_file: dict[str, str] = {}
    for n in tree.body:
        if isinstance(n, ast.FunctionDef) and n.name.startswith("_s"):
            for call in ast.walk(n):
                if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "Src":
                    a0 = call.args[0]
                    if isinstance(a0, ast.Name) and a0.id in consts:
                        helper_file[n.name] = consts[a0.id]
    out: set[Src] = set()

    def lit(node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return consts.get(node.id)
        return None

    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        name = getattr(call.func, "id", "")
        kw = {k.arg: lit(k.value) for k in call.keywords}
        args = [lit(a) for a in call.args]
        if None in kw.values() or None in args:
            continue  # built from variables: found by running the scenarios instead
        if name == "Src" and len(args) >= 3 and None not in args[:3]:
            after = args[3] if len(args) > 3 and args[3] else kw.get("after") or ""
            out.add(Src(args[0], args[1], args[2], after))  # type: ignore[arg-type]
        elif name in helper_file and len(args) >= 2 and None not in args[:2]:
            after = args[2] if len(args) > 2 and args[2] else kw.get("after") or ""
            out.add(Src(helper_file[name], args[0], args[1], after))  # type: ignore[arg-type]
        elif name in helper_file and len(args) == 1 and args[0] is not None:
            # one-argument helpers (khugepaged's _s(snippet)) bind the function too
            pass
    return out


def model_sources(explore_scenarios: bool = True) -> set[Src]:
    """Every Src the model can yield (see the module docstring)."""
    from ..model import checks

    found: set[Src] = set()
    for path in sorted(MODEL.glob("*.py")):
        found |= _literal_srcs(path)
    found |= {c.src for c in checks.CHECKS}
    if explore_scenarios:
        found |= _seen_sources()
    return {s for s in found if s.file != "tests"}


def per_vma_steps() -> set[Src]:
    """Every Src a run under per-VMA locks can announce: the design's checks, where each writer
    write-locks, every 6.12 line :mod:`..model.pervma.lines` gives a port line, and what runs of
    every scenario visit (named schedules, each thread first, and seeded random schedules).
    All name 6.12 (``Src.tree``) but the port lines ``pervma.lines.KEPT`` keeps."""
    import random

    from ..model.pervma.checks import CHECKS
    from ..model.pervma.lines import BY_STEP_BEFORE, LINES
    from ..model.pervma.writers import SITES
    from ..scenarios import SCENARIOS

    seen: set[Src] = {c.src for c in CHECKS} | {s for s in SITES.values() if s is not None}
    seen |= set(LINES.values()) | {s for alt in BY_STEP_BEFORE.values() for s in alt.values()}
    for scen in SCENARIOS.values():
        scen = scen.with_design("per-vma")
        for spec in list(scen.schedules.values()) + ["", "1*,0*"]:
            run = scen.new_run()
            try:
                run.run_spec(spec)
            except Exception:  # noqa: BLE001 - a schedule may not fit this scenario
                pass
            run.finish()
            seen |= {s.src for s in run.trace}
        for seed in range(8):
            rng = random.Random(seed)
            run = scen.new_run()
            while run.runnable():
                run.step(rng.choice(run.runnable()))
            seen |= {s.src for s in run.trace}
    return seen


def per_vma_sources() -> set[Src]:
    """The lines of 6.12 the per-VMA design steps through (:func:`per_vma_steps` but the port
    lines it keeps): what ``spfteach/data/c-excerpts-6.12.json`` ships."""
    from ..model.pervma import TREE

    return {s for s in per_vma_steps() if s.tree == TREE}


def _seen_sources() -> set[Src]:
    """Srcs executed in a run of every scenario under its named schedules and
    with each thread going first."""
    from ..scenarios import SCENARIOS

    seen: set[Src] = set()
    for scen in SCENARIOS.values():
        specs = list(scen.schedules.values()) + ["", "1*,0*"]
        for spec in specs:
            run = scen.new_run()
            try:
                run.run_spec(spec)
            except Exception:  # noqa: BLE001 - a schedule may not fit this scenario
                pass
            run.finish()
            seen |= {s.src for s in run.trace}
    return seen


def main(argv: list[str] | None = None) -> int:
    """``python -m spfteach.csource.csrc [TREE]``: every statement the model steps through,
    with the line of the patched tree it resolves to."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    tree = Path(args[0]) if args else Path(__file__).resolve().parents[2] / "kernel/build/linux"
    if not (tree / "mm" / "memory.c").is_file():
        print(f"spfteach.csource.csrc: error: {tree} is not a kernel tree (run `spfteach "
              "kernel fetch`, or give the tree as the argument)", file=sys.stderr)
        return 2
    bad = 0
    for src in sorted(model_sources(), key=lambda s: (s.file, s.function, s.snippet)):
        try:
            r = resolve(src, tree)
            print(f"{src.file}:{r.line}: {src.function}(): {r.text.strip()}")
        except SrcError as e:
            bad += 1
            print(f"UNRESOLVED {e}")
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BrokenPipeError:  # `python -m spfteach.csource.csrc | head`
        raise SystemExit(0) from None
