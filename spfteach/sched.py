"""The deterministic scheduler: you (or the explorer) choose who runs next.

A *schedule* is a list of thread ids, one per step (the loom habit: the
execution is a plain value that can be printed, stored, replayed, shrunk).
Running the same scenario with the same schedule gives the same trace, step for
step; undo is a replay of the schedule minus its last step.

Schedules can be written compactly: ``0*12`` is twelve steps of thread 0, and
``1*`` runs thread 1 until it finishes or blocks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .model import record
from .model.bug import KernelOops, NotModelled
from .model.errors import UsageError
from .model.footprint import Footprint, order
from .model.invariants import check_end
from .model.machine import Machine
from .model.task import Guard, Op, Src, Task

Program = Generator[Op, None, Any]


class ScheduleError(UsageError, ValueError):
    """A schedule that cannot be followed (unknown, finished or blocked thread)."""


class ModelError(RuntimeError):
    """A Python exception inside model code: a bug in spfteach, never a verdict.

    A modelled oops is a :class:`~spfteach.model.bug.KernelOops` raised by the
    model's own ``oops()``/``BUG_ON()``; anything else (a ``KeyError``, a failed
    ``assert``) means the model itself is wrong, so the run stops and says where:
    the thread, the C statement it had announced and the schedule that leads there.
    """


@dataclass(frozen=True)
class Violation:
    """An invariant broken at a step of a schedule (replay it with ``spfteach step``)."""

    invariant: str
    message: str
    step: int
    schedule: tuple[int, ...]
    #: guards the run's mutants removed that would have fired before this (each
    #: would have stopped the run on its way here)
    removed: tuple[str, ...] = ()

    def __str__(self) -> str:
        return (f"{self.invariant}: {self.message} (step {self.step}, "
                f"schedule {format_schedule(list(self.schedule))})")


@dataclass(frozen=True)
class Step:
    """What one step did, and the state after it."""

    index: int
    tid: int
    thread: str
    cpu: int
    src: Src
    text: str
    notes: tuple[str, ...]
    changes: tuple[tuple[str, object, object], ...]
    finished: bool
    result: Any
    #: the shared state after the step (a ``Machine.snapshot()``: by section, and as the
    #: flat keys the traces print)
    state: Mapping[str, object] = field(repr=False, compare=False)
    #: invariants this step broke (judged right after it)
    violations: tuple[Violation, ...] = ()
    #: the step's decision came from a grading override and differs from the port's
    overridden: bool = False
    #: the guards of the speculative path evaluated on the step (:class:`Guard`)
    guards: tuple[Guard, ...] = ()

    def changes_str(self) -> str:
        return ", ".join(f"{k} {_short(a)}→{_short(b)}" for k, a, b in self.changes)


def _short(v: object) -> str:
    return "∅" if v is None else str(v)


def diff(before: dict[str, object], after: dict[str, object]) -> tuple:
    keys = sorted(set(before) | set(after), key=_natural)
    return tuple((k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k))


def _natural(key: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", key)]


class Run:
    """One execution of a scenario: threads, the shared kernel state, the trace."""

    def __init__(self, machine: Machine, programs: list[tuple[Task, Program]],
                 describe_result: Callable[[Any], str] = str, record: bool = True) -> None:
        self.machine = machine
        #: keep Step records and state snapshots (the explorer turns this off)
        self.record = record
        self.violations: list[Violation] = []
        self.unmodelled: list[str] = []
        self.ended = False
        self._runnable: list[int] = []
        self._runnable_at = -1
        self.tasks = [t for t, _ in programs]
        self._gens = {t.tid: g for t, g in programs}
        self.pending: dict[int, Op] = {}
        self.results: dict[int, Any] = {}
        self.trace: list[Step] = []
        self.schedule: list[int] = []
        #: what the last step read and wrote, as recorded (:mod:`.model.record`); None:
        #: it touched an object outside the kernel's, so it may conflict with anything
        self.last_footprint: Footprint | None = None
        self.describe_result = describe_result
        self._state = machine.snapshot() if record else {}
        for t, g in programs:
            self._advance(t.tid, g, first=True)
        self.initial_state = self._state

    # --- queries -------------------------------------------------------------

    def alive(self) -> list[int]:
        return [t.tid for t in self.tasks if t.tid not in self.results]

    def is_enabled(self, tid: int) -> bool:
        op = self.pending.get(tid)
        return op is not None and (op.waits_on is None or op.waits_on.ready())

    def runnable(self) -> list[int]:
        """Threads that can take a step now (cached until the next step: the
        explorer asks often, and only a step can change the answer)."""
        n = len(self.schedule)
        if self._runnable_at != n:
            self._runnable = [tid for tid, op in self.pending.items()
                              if op.waits_on is None or op.waits_on.ready()]
            self._runnable.sort()
            self._runnable_at = n
        return self._runnable

    @property
    def finished(self) -> bool:
        return not self.alive()

    @property
    def deadlocked(self) -> bool:
        """Threads are left and none of them can move."""
        return bool(self.alive()) and not self.runnable()

    def next_op(self, tid: int) -> Op | None:
        return self.pending.get(tid)

    def task(self, tid: int) -> Task:
        return self.tasks[tid]

    # --- stepping ------------------------------------------------------------

    def _advance(self, tid: int, gen: Program, first: bool = False,
                 footprint: bool = True) -> tuple[bool, Any]:
        """Run ``tid`` to its next announcement; ``footprint``: record what the step touches
        (a replay needs only its last step's)."""
        rec = record.Recorder() if footprint else None
        was = None if first else self.pending[tid]
        prev = record.start(rec)
        try:
            if was is not None and was.waits_on is not None:
                was.waits_on.ready()  # what it waited for is read: recorded
            op = next(gen)
        except StopIteration as stop:
            self.results[tid] = stop.value
        except KernelOops as e:
            # The modelled kernel oopses (a BUG_ON of the C, or a dereference the
            # model names): a verdict.  The thread dies there, as in the kernel.
            op = self.pending.get(tid)
            where = f" in {op.src.function}()" if op else ""
            self.machine.violate("oops", f"T{tid} oopses{where}: {e}")
            self.results[tid] = "oops"
        except NotModelled as e:
            # Where the model stops (a path it does not implement): the thread
            # ends there, and the run says so; it is no verdict on the kernel.
            self.unmodelled.append(f"T{tid}: {e}")
            self.results[tid] = "not modelled"
        except Exception as e:  # noqa: BLE001 - every other exception is a bug in spfteach
            op = self.pending.get(tid)
            where = f" at {op.src.file}:{op.src.function}(): {op.src.snippet}" if op else ""
            sched = format_schedule(self.schedule + ([] if first else [tid]))
            raise ModelError(
                f"model error (a bug in spfteach, not a verdict): T{tid} "
                f"({self.tasks[tid].name}){where}: {type(e).__name__}: {e}; "
                f"schedule {sched or '(start)'}") from e
        else:
            self.pending[tid] = op
        finally:
            record.start(prev)
        if was is not None:
            if rec is None:
                self.last_footprint = None  # not recorded: it may conflict with anything
            else:
                self._recorded(tid, was, rec)
        if tid not in self.results:
            return False, None
        self.pending.pop(tid, None)
        return True, self.results[tid]

    def _recorded(self, tid: int, was: Op, rec: record.Recorder) -> None:
        """Keep what the step touched, for the explorer's reduction. A step announced as
        local (``Op.local``: the explorer runs it alone, as commuting with everything) that
        touched shared state is a bug in the model, found on the step where it happens."""
        fp = self.last_footprint = rec.footprint()
        if was.local and (fp is None or fp.reads):
            touched = "an object outside the kernel's" if fp is None else \
                ", ".join(map(str, sorted(fp.reads, key=order)))
            raise ModelError(
                f"model error (a bug in spfteach, not a verdict): T{tid} at "
                f"{was.src.file}:{was.src.function}(): {was.src.snippet}: a step announced "
                f"local touched {touched}; schedule {format_schedule(self.schedule + [tid])}")

    def _commit(self, tid: int, may_end: bool = True,
                footprint: bool = True) -> tuple[bool, Any, int, int]:
        """The one way a run advances: thread ``tid`` runs to its next announcement, the
        choice joins the schedule, the end is judged when no thread can move (only
        ``may_end``: a replay knows no earlier step ends it, the next choice being
        runnable), and the violations found become the step's. Returns whether the
        thread finished, its result, how many violations the step itself found (the
        rest belong to the end), and how many the run had before."""
        nviol = len(self.machine.violations)
        nrec = len(self.violations)
        finished, result = self._advance(tid, self._gens[tid], footprint=footprint)
        self.schedule.append(tid)
        own = len(self.machine.violations) - nviol
        if may_end and not self.runnable():
            self._end()
        self._record_violations(nviol)
        return finished, result, own, nrec

    def step(self, tid: int) -> Step:
        """Run thread ``tid`` for one step; a bad choice raises ScheduleError."""
        if not 0 <= tid < len(self.tasks):
            known = ", ".join(str(t.tid) for t in self.tasks)
            raise ScheduleError(f"no thread {tid}: this scenario has threads {known}")
        t = self.tasks[tid]
        if tid in self.results:
            raise ScheduleError(
                f"thread {tid} ({t.name}) has finished; runnable now: {self._runnable_str()}")
        if not self.is_enabled(tid):
            raise ScheduleError(
                f"thread {tid} ({t.name}) is blocked waiting for {self.pending[tid].waits_for}; "
                f"runnable now: {self._runnable_str()}")
        op = self.pending[tid]
        finished, result, _, nrec = self._commit(tid)
        if not self.record:
            return None  # type: ignore[return-value]
        after = self.machine.snapshot()
        step = Step(
            index=len(self.trace), tid=tid, thread=t.name, cpu=t.cpu, src=op.src, text=op.text,
            notes=tuple(op.notes), changes=diff(self._state, after), finished=finished,
            result=result, state=after, violations=tuple(self.violations[nrec:]),
            overridden=op.overridden, guards=tuple(op.guards),
        )
        self._state = after
        self.trace.append(step)
        return step

    def explore_step(self, tid: int) -> int:
        """``replay([tid])`` for a choice known to be valid, returning how many of
        the violations it records the step itself found: the rest, if any, are
        the end judgement's (``check_end``), which belongs to the state reached,
        not to the step (the memoizing explorer keeps the two apart)."""
        return self._commit(tid)[2]

    def replay(self, schedule: list[int]) -> Run:
        """Follow a schedule already known to be valid, without the checks and the
        trace of ``step`` (the explorer's replays, which dominate its cost).

        Valid means: it was followed before on this scenario, step by step, so every
        choice names an enabled thread; runs are deterministic, so it is again.  What
        ``step`` would record about violations and the end of the run is recorded
        here too, so the run is the same as after ``step`` over each choice.
        """
        last = len(schedule) - 1
        for i, tid in enumerate(schedule):
            # every step of a replay ran before (its footprint was recorded then): only the
            # last one's is kept, for the search's sleep sets
            self._commit(tid, may_end=i == last, footprint=i == last)
        return self

    def _record_violations(self, nviol: int) -> None:
        """The kernel's violations past the first ``nviol``, as the last step's."""
        if len(self.machine.violations) > nviol:
            sched = tuple(self.schedule)
            removed = tuple(sorted({n for t in self.tasks for n in t.would_have}))
            self.violations.extend(Violation(inv, msg, len(self.schedule) - 1, sched, removed)
                                   for inv, msg in self.machine.violations[nviol:])

    def _end(self) -> None:
        """No thread can move: judge what is left (once)."""
        if not self.ended:
            self.ended = True
            if not self.unmodelled:  # a thread stopped where the model stops: no verdict
                dead = frozenset(tid for tid, r in self.results.items() if r == "oops")
                check_end(self.machine, self.deadlocked, dead)

    def _runnable_str(self) -> str:
        r = self.runnable()
        if r:
            return ", ".join(str(x) for x in r)
        return "none (deadlock)" if self.alive() else "none: every thread has finished"

    def run_spec(self, spec: str | Iterable[int]) -> Run:
        """Follow a schedule written as a string (``"0*12,1*,0"``) or a list."""
        if isinstance(spec, str):
            for tid, count in parse_schedule(spec):
                if count is None:
                    if tid not in self.runnable() and tid not in self.results and \
                            tid < len(self.tasks):
                        self.step(tid)  # raises the right error
                    while tid in self.runnable():
                        self.step(tid)
                else:
                    for _ in range(count):
                        self.step(tid)
        else:
            for tid in spec:
                self.step(tid)
        return self

    def finish(self) -> Run:
        """Run to the end: the lowest-numbered runnable thread goes first."""
        while self.runnable():
            self.step(self.runnable()[0])
        return self


_ITEM = re.compile(r"^\s*([0-9]+)\s*(?:\*\s*([0-9]*)\s*)?$", re.ASCII)
#: A thread id or step count longer than this is a typo, not a schedule.
_MAX_DIGITS = 9


def parse_schedule(spec: str) -> list[tuple[int, int | None]]:
    """``"0*3,1*,0"`` → ``[(0, 3), (1, None), (0, 1)]`` (None: as long as it can).

    Only ASCII digits: Python's ``int()`` would read ``'١'`` as 1."""
    out: list[tuple[int, int | None]] = []
    if not spec.strip():
        return out
    for part in spec.split(","):
        m = _ITEM.match(part)
        if not m:
            raise ScheduleError(
                f"bad schedule item {part.strip()!r}: write thread ids separated by commas, "
                "e.g. 0,0,1 or 0*5,1* (N*K = K steps of thread N, N* = until it stops)")
        tid_s, count_s = m.group(1), m.group(2)
        if len(tid_s) > _MAX_DIGITS or (count_s and len(count_s) > _MAX_DIGITS):
            raise ScheduleError(f"bad schedule item {part.strip()[:20]!r}...: a thread id or "
                                f"step count has at most {_MAX_DIGITS} digits")
        tid = int(tid_s)
        if count_s is None and "*" not in part:
            out.append((tid, 1))
        elif count_s in ("", None):
            out.append((tid, None))
        elif int(count_s) == 0:
            raise ScheduleError(f"bad schedule item {part.strip()!r}: {tid}*0 is no step at "
                                f"all; write {tid}*K with K at least 1, or {tid}* to run "
                                "it until it stops")
        else:
            out.append((tid, int(count_s)))
    return out


def format_schedule(schedule: list[int]) -> str:
    """Compress a schedule: ``[0,0,0,1]`` → ``"0*3,1"``."""
    parts: list[str] = []
    i = 0
    while i < len(schedule):
        j = i
        while j < len(schedule) and schedule[j] == schedule[i]:
            j += 1
        n = j - i
        parts.append(f"{schedule[i]}*{n}" if n > 1 else str(schedule[i]))
        i = j
    return ",".join(parts)
