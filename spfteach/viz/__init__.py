"""The pictures: pure functions from model state or a run to a figure or SVG text.

Nothing here imports Jupyter (``tests/test_layering.py`` holds it); the widgets
put these pictures on the page.  The names below are loaded on first use, so
``import spfteach.viz`` costs nothing until a picture is drawn (matplotlib and
graphviz take a while to import, and the walk needs only graphviz).
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the module of this package that defines it
_EXPORTS = {
    "walk_graph": "walk", "walk_svg": "walk", "show_walk": "walk", "require_dot": "walk",
    "MissingTool": "walk",
    "vma_map": "vmamap", "vma_bars": "vmamap", "VmaBar": "vmamap",
    "seqcount_timeline": "seqcount", "seqcount_points": "seqcount",
    "odd_windows": "seqcount", "SeqPoint": "seqcount",
    "swim_lanes": "lanes", "lanes_data": "lanes", "LaneBox": "lanes",
    "counterexample_figure": "counterexample",
    "message_passing_figure": "memorder",
    "class_report_figure": "classreport",
    "to_png": "render", "to_svg": "render",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
