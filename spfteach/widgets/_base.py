"""What every widget here shares: built on first display, one line under nbgrader,
errors shown in the widget.

A widget object is plain Python until it is displayed (or ``.widget`` is read):
then :meth:`_build` makes the ipywidgets tree, which must include an ``error``
HTML for :meth:`_show_error`, and :meth:`_refresh` fills it.  Under nbgrader
(:func:`text_mode`) displaying it gives ``repr()`` as one line and builds nothing.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W

from ._mode import text_mode
from .safe import error_html


class Shown:
    """The display protocol of the widgets (see the module docstring)."""

    _widget: W.Box | None = None
    _error: str = ""
    error: W.HTML

    def _build(self) -> None:
        raise NotImplementedError

    def _refresh(self) -> None:
        raise NotImplementedError

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict:
        if text_mode():
            return {"text/plain": repr(self) + " [interactive widget: not shown under nbgrader]"}
        return self.widget._repr_mimebundle_(include=include, exclude=exclude)

    @property
    def widget(self) -> W.Box:
        """The ipywidgets tree (built on first use)."""
        if self._widget is None:
            self._build()
            self._refresh()
        assert self._widget is not None
        return self._widget

    def _show_error(self, message: str) -> None:
        """Put one line in the widget's error area (kept until the next good action)."""
        self._error = message
        if self._widget is not None:
            self.error.value = error_html(message)
