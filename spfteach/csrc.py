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

from .model.task import Src

MODEL = Path(__file__).parent / "model"


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


def resolve(src: Src, tree: Path) -> Resolved:
    """The one line of ``src.function`` in ``tree/src.file`` holding the snippet."""
    path = tree / src.file
    if not path.exists():
        raise SrcError(f"{src.file} does not exist in {tree}")
    body = function_body(path, src.function)
    if src.after:
        starts = [n for n, (_, t) in enumerate(body) if src.after in t]
        if len(starts) != 1:
            raise SrcError(f"{src.file}:{src.function}(): the anchor {src.after!r} is on "
                           f"{len(starts)} lines, not 1")
        body = body[starts[0] + 1:]
        hits = [(n, t) for n, t in body if src.snippet in t][:1]
    else:
        hits = [(n, t) for n, t in body if src.snippet in t]
    if len(hits) != 1:
        where = ", ".join(str(n) for n, _ in hits)
        raise SrcError(f"{src.file}:{src.function}(): {src.snippet!r} is on {len(hits)} "
                       f"lines{' (' + where + ')' if hits else ''}, not 1")
    return Resolved(src, path, hits[0][0], hits[0][1])


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
    from .model import checks

    found: set[Src] = set()
    for path in sorted(MODEL.glob("*.py")):
        found |= _literal_srcs(path)
    found |= {c.src for c in checks.CHECKS}
    if explore_scenarios:
        found |= _seen_sources()
    return {s for s in found if s.file != "tests"}


def _seen_sources() -> set[Src]:
    """Srcs executed in a run of every scenario under its named schedules and
    with each thread going first."""
    from .scenarios import SCENARIOS

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
