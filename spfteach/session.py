"""The stepper's state, apart from any widget: a scenario, a run, a schedule.

Kept free of ipywidgets so the exercises and the grading (which run with no
front end, and under nbgrader with no widget at all) drive exactly what a
student clicks: :class:`Session` is the Python API of the RaceStepper.  Undo is
a replay of the schedule minus its last step (the scheduler is deterministic,
so that *is* the previous state; no snapshot stack to get wrong).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from .explore.search import explore
from .model import checks
from .model.errors import UsageError
from .model.invariants import INVARIANTS
from .model.task import Src
from .model.wait import OnLock, OnPteLock, Wait
from .scenarios import get as get_scenario
from .scenarios.base import Scenario
from .sched import Run, ScheduleError, Step, Violation, format_schedule, parse_schedule

#: the explorer's budget for working out a mutant's goal (the largest scenario
#: needs about a second; a budget keeps a slow machine from hanging the cell)
GOAL_SECONDS = 20.0


@dataclass(frozen=True)
class ThreadStatus:
    """Where a thread is: ``state`` is runnable, blocked, finished, or broke (its
    last step broke an invariant); ``reason`` says why it cannot move, or how it
    ended, in words."""

    tid: int
    name: str
    state: str
    reason: str
    #: the C statement it runs next (runnable, blocked), ran last (finished), or
    #: that broke the invariant (broke)
    src: Src | None


class Session:
    """One scenario under the student's schedule (see the module docstring)."""

    def __init__(self, scenario: str | Scenario, mutant: str | None = None,
                 schedule: str | Iterable[int] | None = None, design: str | None = None) -> None:
        self.scenario = scenario if isinstance(scenario, Scenario) else get_scenario(scenario)
        if design is not None:
            self.scenario = self.scenario.with_design(design)
        self.mutants: tuple[checks.Mutant, ...] = (_of_design(mutant, self.scenario.design),) \
            if mutant else ()
        self.run: Run = self._fresh()
        if schedule:
            self.replay(schedule)

    # --- what the student does ------------------------------------------------

    def _fresh(self) -> Run:
        return self.scenario.new_run(mutants=self.mutants)

    def step(self, tid: int) -> Step:
        """One step of thread ``tid``; a finished or blocked one is a ScheduleError
        that says which threads can run."""
        if self.run.violations:
            raise ScheduleError(f"the run already broke an invariant at step "
                                f"{self.run.violations[0].step}: Undo or Reset to go on")
        return self.run.step(tid)

    def run_to_end(self, tid: int) -> list[Step]:
        """Step ``tid`` until it finishes, blocks, or an invariant breaks."""
        steps = [self.step(tid)]
        while tid in self.run.runnable() and not self.run.violations:
            steps.append(self.run.step(tid))
        return steps

    def undo(self) -> None:
        """Back one step (a replay of the schedule without its last choice)."""
        if not self.run.schedule:
            raise ScheduleError("nothing to undo: no step has been taken yet")
        prefix = self.run.schedule[:-1]
        run = self._fresh()
        run.run_spec(prefix)
        self.run = run

    def reset(self) -> None:
        self.run = self._fresh()

    def replay(self, spec: str | Iterable[int]) -> None:
        """Start again and follow ``spec`` (``"0*23,1*15,0*3"`` or a list of ids).

        Tried on a fresh run first: a schedule that cannot be followed raises a
        ScheduleError naming the step where it fails, and the current run is
        kept (a typo never throws away the student's position)."""
        if isinstance(spec, str):
            parse_schedule(spec)  # a malformed spec fails before anything runs
        trial = self._fresh()
        try:
            trial.run_spec(spec if isinstance(spec, str) else list(spec))
        except ScheduleError as e:
            raise ScheduleError(f"the schedule fails at step {len(trial.schedule)}: {e} "
                                "(the stepper stays where it was)") from None
        self.run = trial

    # --- what the views show ---------------------------------------------------

    @property
    def schedule(self) -> list[int]:
        return list(self.run.schedule)

    @property
    def schedule_text(self) -> str:
        return format_schedule(self.run.schedule)

    @property
    def violation(self) -> Violation | None:
        return self.run.violations[0] if self.run.violations else None

    @property
    def verdict(self) -> str | None:
        v = self.violation
        return None if v is None else f"{v.invariant}: {v.message}"

    @property
    def over(self) -> bool:
        """No thread can take a step (all finished, deadlocked, or a violation)."""
        return bool(self.run.violations) or not self.run.runnable()

    def status(self, tid: int) -> ThreadStatus:
        run = self.run
        t = run.task(tid)
        if run.violations:
            v = run.violations[0]
            culprit = run.trace[v.step] if v.step < len(run.trace) else None
            if culprit is not None and culprit.tid == tid:
                # the line that broke it, not the one it would run next
                return ThreadStatus(tid, t.name, "broke",
                                    f"broke {v.invariant} on this line (step {v.step})",
                                    culprit.src)
        if tid in run.results:
            last = next((s for s in reversed(run.trace) if s.tid == tid), None)
            return ThreadStatus(tid, t.name, "finished",
                                f"finished: {run.describe_result(run.results[tid])}",
                                last.src if last else None)
        op = run.pending[tid]
        if run.violations:
            return ThreadStatus(tid, t.name, "blocked",
                                "stopped: the run broke an invariant", op.src)
        if run.is_enabled(tid):
            return ThreadStatus(tid, t.name, "runnable", "runnable", op.src)
        return ThreadStatus(tid, t.name, "blocked", _waiting(op.waits_on), op.src)

    def goal(self) -> str:
        """With a mutant: what to make happen, from what the explorer can reach."""
        if not self.mutants:
            return ""
        found = _reachable(self.scenario.name, self.mutants[0].name)
        name = self.mutants[0].name
        if found is None:
            return (f"mutant {name} is on; the explorer ran out of time looking for a "
                    "violation: try to find one by hand")
        if not found:
            return (f"mutant {name} is on, but no schedule of this scenario breaks an "
                    "invariant with it: try it in another scenario")
        words = "; or ".join(f"{inv} ({INVARIANTS.get(inv, inv)})" for inv in found)
        return f"make it break: find a schedule that violates {words}"


def _waiting(w: Wait | None) -> str:
    """"waiting for mmap_lock, held by T1": what the step declared it waits on
    (:mod:`spfteach.model.wait`), and who holds it up, read from the state."""
    if w is None:
        return "blocked"
    held = w.holders()
    if not held:
        return f"waiting for {w.what}"
    if isinstance(w, OnLock):
        return f"waiting for {w.what}, held by {held}"
    if isinstance(w, OnPteLock):
        return f"waiting for the PTE lock (held now: {held})"
    return f"waiting for {w.what}"  # the IPI: its words name the CPUs


@lru_cache(maxsize=64)
def _reachable(scenario: str, mutant: str) -> tuple[str, ...] | None:
    """The invariants some schedule of ``scenario`` breaks under ``mutant`` (None:
    the explorer's budget ran out first)."""
    rep = explore(get_scenario(scenario), [mutant], max_seconds=GOAL_SECONDS)
    if not rep.complete and not rep.counterexamples:
        return None
    return tuple(sorted(rep.counterexamples))


__all__ = ["Session", "ThreadStatus", "UsageError"]


def _of_design(name: str, design: str) -> checks.Mutant:
    """The mutant ``name``, refused (one line) if it belongs to the other design's kernel."""
    from .model.pervma.checks import MUTANTS as PER_VMA

    m = checks.mutant(name)
    if (m.name in PER_VMA) != (design == "per-vma"):
        other = "per-vma" if design == "spf" else "spf"
        raise checks.UnknownCheck(f"{m.name} is a mutant of the {other} design: give "
                                  f"design={other!r}")
    return m
