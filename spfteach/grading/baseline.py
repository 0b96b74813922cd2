"""The grading benchmark's baseline (:mod:`.bench`): the same judge, with the
student's code in a plain child process instead of the jail (a fresh
interpreter as the judge's user, as the old worker ran it: no namespaces, no
view, no uid of its own).  Only the benchmark uses it: :func:`.judge.grade`
takes a jail class, and nothing else passes this one.  A module of its own, so
that a baseline judge process imports what a real one imports, and no more.
"""

from __future__ import annotations

import os

from . import judge
from .jail import Jail, interpreter


class Unconfined(Jail):
    """The glue and its protocol, unconfined."""

    def argv(self, glue_fd: int, info_fd: int) -> list[str]:
        py = interpreter(os.geteuid() == 0)  # the jail's own interpreter: only the jail differs
        return [py.executable, "-S", "-s", "-B", f"/dev/fd/{glue_fd}"]

    def uid(self) -> int | None:
        return None


def serve_unconfined() -> None:
    """A judge process grading with :class:`Unconfined` (the baseline run's)."""
    judge.serve(jail=Unconfined)
