"""Layers point one way (DESIGN.md §8): every module imports only modules of its own
rank or below, the model imports nothing of Jupyter or of a picture library, and
only the widgets import ipywidgets or IPython."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).parent.parent / "spfteach"

#: The ranks, lowest first.  A module may import its own rank or lower.
RANKS: dict[str, int] = {
    "spfteach.model": 0,
    # where the shipped data is (importlib.resources): every layer may read it
    "spfteach.resources": 0,
    "spfteach.sched": 1, "spfteach.trace": 1,
    "spfteach.scenarios": 2,
    "spfteach.explore": 3, "spfteach.drills": 3, "spfteach.csource": 3, "spfteach.session": 3,
    "spfteach.viz": 4,
    "spfteach.widgets": 5, "spfteach.grading": 5,
    "spfteach.cli": 6, "spfteach.kernel": 6, "spfteach.hub": 6,
    # make bench's simulated students: drive Jupyter servers, or the hub (spfteach.hub's
    # LocalHub), from outside over HTTP and websockets; import no Jupyter themselves
    "spfteach.hubload": 7,
}
#: Same-rank packages that must not import each other, and what grading may not
#: import although it ranks above it (it judges code; it never draws).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "spfteach.grading": ("spfteach.widgets", "spfteach.viz"),
    "spfteach.widgets": ("spfteach.grading", "spfteach.cli", "spfteach.kernel"),
    "spfteach.kernel": ("spfteach.cli",),
    "spfteach.hub": ("spfteach.cli", "spfteach.widgets", "spfteach.viz"),
}
JUPYTER = ("ipywidgets", "IPython", "jupyter", "ipykernel", "anywidget")
#: Jupyter modules a module outside the widgets may import, and why: no interface, only
#: where Jupyter keeps its configuration (the student id nbgrader's own config may set).
JUPYTER_ALLOWED = {"spfteach.grading.identity": ("jupyter_core.paths",)}
PICTURES = ("matplotlib", "graphviz")


def _module(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    pkg_parts = _module(path).split(".")
    if path.name != "__init__.py":
        pkg_parts = pkg_parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = ".".join(pkg_parts[:len(pkg_parts) - node.level + 1])
                mod = f"{base}.{mod}" if mod else base
                if not node.module:  # from . import x: the names are modules
                    names.update(f"{mod}.{a.name}" for a in node.names)
                    continue
            names.add(mod)
    return names


def rank_of(module: str) -> int | None:
    best = None
    for prefix, rank in RANKS.items():
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, rank)
    return None if best is None else best[1]


def _layer(module: str) -> str | None:
    hits = [p for p in RANKS if module == p or module.startswith(p + ".")]
    return max(hits, key=len) if hits else None


def layering_errors(files: list[Path]) -> list[str]:
    errors = []
    for f in files:
        me = _module(f)
        my_rank, my_layer = rank_of(me), _layer(me)
        for name in _imports(f):
            if my_layer == "spfteach.model" and name.startswith(JUPYTER + PICTURES):
                errors.append(f"{me} imports {name}: the model imports no Jupyter or pictures")
            if (name.startswith(JUPYTER) and my_layer != "spfteach.widgets"
                    and name not in JUPYTER_ALLOWED.get(me, ())):
                errors.append(f"{me} imports {name}: only spfteach.widgets imports Jupyter")
            if not name.startswith("spfteach"):
                continue
            other = rank_of(name)
            if my_rank is None or other is None:
                errors.append(f"{me} or {name} has no rank in RANKS")
            elif other > my_rank:
                errors.append(f"{me} (rank {my_rank}) imports {name} (rank {other})")
            if name.startswith(FORBIDDEN.get(my_layer or "", ())):
                errors.append(f"{me} imports {name}, which its layer must not")
    return errors


def test_every_module_imports_only_its_rank_or_below() -> None:
    files = sorted(PKG.rglob("*.py"))
    assert len(files) > 40
    assert layering_errors(files) == []


#: modules of spfteach.widgets that import no Jupyter, and why they live there all the same
WIDGET_HELPERS = {
    "spfteach.widgets": "the package: re-exports the widgets",
    "spfteach.widgets._mode": "whether widgets draw or print (under nbgrader they print)",
    "spfteach.widgets.safe": "the guard around every widget callback",
    "spfteach.widgets.bench": "measures the widgets' click latency (make bench)",
}


def test_what_needs_no_jupyter_is_not_a_widget() -> None:
    """Rooms: a module in spfteach/widgets/ draws with Jupyter, or is one of its named
    helpers. What drives a session without ipywidgets is the engine's
    (spfteach/session.py), HTML builders are pictures (spfteach/viz/), self-checks are
    drills (spfteach/drills/selfcheck.py): grading and the command line can use them."""
    strays = []
    for f in sorted((PKG / "widgets").glob("*.py")):
        me = _module(f)
        if me not in WIDGET_HELPERS and not any(n.startswith(JUPYTER) for n in _imports(f)):
            strays.append(me)
    assert strays == [], f"import no Jupyter, so belong in a lower layer: {strays}"


@pytest.mark.parametrize("source,where,expect", [
    ("from ..explore import search\n", "model/fake.py", "rank 0) imports spfteach.explore"),
    ("import ipywidgets\n", "viz/fake.py", "only spfteach.widgets imports Jupyter"),
    ("import matplotlib\n", "model/fake.py", "no Jupyter or pictures"),
    ("from ..widgets import x\n", "grading/fake.py", "its layer must not"),
    ("from . import cli\n", "sched_fake.py", "imports spfteach.cli"),
])
def test_the_check_catches_each_direction(tmp_path: Path, source: str, where: str,
                                          expect: str) -> None:
    """The test above can fail: a fake module breaking each rule is caught."""
    global PKG
    fake_pkg = tmp_path / "spfteach"
    target = fake_pkg / where
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source)
    saved, PKG = PKG, fake_pkg
    try:
        if where == "sched_fake.py":
            RANKS["spfteach.sched_fake"] = 1
        errors = layering_errors([target])
    finally:
        PKG = saved
        RANKS.pop("spfteach.sched_fake", None)
    assert any(expect in e for e in errors), errors
