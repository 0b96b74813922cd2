"""SeqcountTimeline: the VMA's ``vm_sequence`` over the steps of a RaceStepper,
redrawn after every step, undo, reset or replay of that stepper.

The picture is :func:`viz.seqcount.seqcount_timeline` (odd windows shaded as
"writer inside", each reader's snapshot and validation marked, the abort
marked); this widget only follows the stepper and puts the PNG in an Image.
"""

from __future__ import annotations

import ipywidgets as W

from ._base import Shown
from .safe import guarded
from .stepper import RaceStepper


class SeqcountTimeline(Shown):
    """``SeqcountTimeline(stepper)``; ``vma`` picks the VMA (default: the faulting one)."""

    def __init__(self, stepper: RaceStepper, vma: int | None = None) -> None:
        self.stepper = stepper
        self.vma = vma
        self.redraws = 0
        self._widget: W.VBox | None = None
        stepper.on_change(lambda _s: self._refresh())

    def points(self) -> list:
        """The data behind the picture (see :func:`viz.seqcount.seqcount_points`)."""
        from ..viz.seqcount import seqcount_points

        return seqcount_points(self.stepper.run, self.vma)

    def png(self) -> bytes:
        from ..viz.render import to_png
        from ..viz.seqcount import seqcount_timeline

        return to_png(seqcount_timeline(self.stepper.run, self.vma))

    def __repr__(self) -> str:
        return (f"SeqcountTimeline of {self.stepper.session.scenario.name}: "
                f"{len(self.stepper.schedule)} steps")

    def _build(self) -> None:
        self.image = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.error = W.HTML()
        self._widget = W.VBox([self.error, self.image])

    def _refresh(self) -> None:
        if self._widget is None:
            return
        guarded(self._show_error)(self._draw)()

    def _draw(self) -> None:
        self.error.value = ""
        self.image.value = self.png()
        self.redraws += 1
