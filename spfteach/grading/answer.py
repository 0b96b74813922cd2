"""A student's answer cell, as the judge sees it: the values it set and the
functions it defined, all living in a jail (:mod:`.jail`).

The judge never holds the student's objects, only plain values checked by type
here.  A function is called through the jail, and its answers are memoized by
argument: the explorer assumes a decision is a function of what it sees, and
the memo makes that so (a function with hidden state is graded as the table of
its first answers), and asks each question once however many schedules reach it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .jail import Budget, FunctionRef, Jail, StudentError


@dataclass
class Answer:
    """One submission's answer cell: its source, the names it must set, and the
    jail it runs in (started on first use, started again after a failure)."""

    source: str
    names: tuple[str, ...]
    given: dict = field(default_factory=dict)
    jail: Jail = field(default_factory=Jail)
    _values: dict | None = None
    _error: StudentError | None = None
    _memo: dict = field(default_factory=dict)

    @property
    def budget(self) -> Budget:
        return self.jail.budget

    def values(self) -> dict:
        """What the cell set (plain values; a function is a FunctionRef).  A cell
        that fails (raises, loops, dies) fails every part the same way: it is run
        once, and its jail, in whatever state the failure left it, is killed."""
        if self._error is not None:
            raise self._error
        if self._values is None:
            try:
                self._values = self.jail.load(self.source, list(self.names), self.given)
            except StudentError as e:
                self._error = e
                self.jail.close()
                raise
        return self._values

    def value(self, name: str) -> object:
        got = self.values()
        if name not in got:
            raise StudentError(f"your answer cell does not set {name}")
        return got[name]

    def function(self, name: str) -> None:
        """The cell must define ``name`` as a function (it stays in the jail)."""
        got = self.value(name)
        if not isinstance(got, FunctionRef):
            raise StudentError(f"{name} is not a function (your cell set it to {got!r:.60})")

    def decision(self, name: str, check: Callable[[tuple, object], object]
                 ) -> Callable[..., object]:
        """``name`` as a function of plain arguments, its result passed through
        ``check(args, result)`` (which raises :class:`StudentError` on a wrong
        type), memoized by argument."""
        self.function(name)

        def call(*args: object) -> object:
            key = (name, args)
            if key not in self._memo:
                self._memo[key] = check(args, self.jail.call(name, list(args)))
            return self._memo[key]
        return call

    def close(self) -> None:
        self.jail.close()

    def printed(self) -> str:
        return self.jail.printed()
