"""What the modelled kernel does when it breaks, and where the model stops.

Two kinds of "this thread cannot go on", kept apart from every other Python
exception on purpose:

* :class:`KernelOops` — the *kernel* would oops here: the C has a ``BUG_ON()`` /
  ``VM_BUG_ON()`` that fires, a debug check (lockdep, ``DEBUG_SPINLOCK``) that
  reports, or a dereference the model names (following a page-table entry that is
  not a table, a ``NULL`` VMA).  It is a verdict: the scheduler records the
  ``oops`` invariant as violated.  Model code raises it only through
  :func:`oops` or :func:`BUG_ON`, so every oops has a sentence saying which C it is.
* :class:`NotModelled` — the run reached a kernel path the model does not
  implement.  No verdict: the scheduler ends the thread and says so.

Anything else raised inside model code (``KeyError``, ``AttributeError``, a failed
``assert``, ...) is a bug in spfteach, not a race found or a mutant caught; the
scheduler turns it into a ``ModelError`` that stops the run.
"""

from __future__ import annotations

from typing import NoReturn


class KernelOops(Exception):
    """The modelled kernel oopses: the message says which C check or dereference."""


class NotModelled(RuntimeError):
    """A kernel path the model does not implement (said plainly, not faked)."""


def oops(what: str) -> NoReturn:
    """The kernel would oops here (``what``: the C and the bad value, in words)."""
    raise KernelOops(what)


def BUG_ON(cond: bool, what: str) -> None:  # noqa: N802 - the kernel's name
    """``BUG_ON(cond)``: an oops when ``cond`` holds."""
    if cond:
        raise KernelOops(what)
