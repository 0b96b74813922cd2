"""Layers point one way: nothing under model/ imports Jupyter or upper layers."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).parent.parent / "spfteach"
FORBIDDEN_IN_MODEL = ("ipywidgets", "IPython", "jupyter", "matplotlib", "graphviz",
                      "spfteach.viz", "spfteach.widgets", "spfteach.scenarios")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = ".".join(path.relative_to(PKG.parent).with_suffix("").parts[:-node.level])
                mod = f"{base}.{mod}" if mod else base
            names.add(mod)
    return names


def test_model_imports_nothing_above_it() -> None:
    files = list((PKG / "model").glob("*.py"))
    assert files
    for f in files:
        for name in _imports(f):
            assert not name.startswith(FORBIDDEN_IN_MODEL), f"{f.name} imports {name}"
