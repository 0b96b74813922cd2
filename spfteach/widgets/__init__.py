"""The widgets a student drives: the only package that imports ipywidgets.

- :class:`RaceStepper` — be the scheduler of a scenario, beside the real C.
- :class:`WalkView` — walk an address through the page tables, level by level.
- :class:`SeqcountTimeline` — ``vm_sequence`` over a stepper's steps, redrawn as you step.
- :class:`ExplorerPanel` — run the explorer, list its counterexamples, load one.

Under nbgrader (``NBGRADER_EXECUTION`` set) each renders as one line of text and
nothing interactive runs; the Python API still works, for the grading cells.
"""

from __future__ import annotations

from .explorer import ExplorerPanel
from .stepper import RaceStepper
from .timeline import SeqcountTimeline
from .walkview import WalkView

__all__ = ["ExplorerPanel", "RaceStepper", "SeqcountTimeline", "WalkView"]
