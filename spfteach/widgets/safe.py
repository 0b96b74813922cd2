"""Callbacks that cannot leak a traceback into the log.

An exception raised in an ipywidgets callback goes to the kernel's log (or an
unrelated output area), where a student never looks; the widget just stops
responding.  Every callback of these widgets runs through :func:`guarded`, which
shows the error *in the widget*, in one line, saying what kind of error it is:
a mistake of the user (a bad schedule: what to type instead), a bug in the model
(``ModelError``: spfteach is wrong, not the kernel), or any other exception (a
bug in the widget).
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable
from typing import Any

from ..model.errors import UsageError
from ..sched import ModelError


def error_text(e: BaseException) -> str:
    """One line for an exception, by what it means for the user."""
    if isinstance(e, UsageError):
        return str(e)
    if isinstance(e, ModelError):
        return str(e)
    return (f"internal error in spfteach (a bug in the widget, please report it): "
            f"{type(e).__name__}: {e}")


def error_html(message: str) -> str:
    return (f'<div class="spf-error" role="alert">⚠ {html.escape(message)}</div>')


def guarded(show: Callable[[str], None]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a callback: an exception becomes ``show(one line)``, nothing escapes."""
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - shown in the widget, by kind
                show(error_text(e))
                return None
        return run
    return wrap
