"""A counterexample as a picture: the violating schedule replayed, drawn as
swim-lanes with the violating step outlined and the violation as the title.

The explorer and ``spfteach/data/mutants.json`` give a counterexample as a schedule and
a message; the picture is what makes it a story (which thread ran between the
fault's check and its use).  The replay is a fresh run of the scenario with the
same mutants, and it must break the same invariant at the same step: a picture
of a run that does not is refused, not drawn.
"""

from __future__ import annotations

from collections.abc import Iterable

from matplotlib.figure import Figure

from ..model.checks import Mutant
from ..scenarios import get
from ..sched import Run, Violation, format_schedule
from . import text
from .lanes import TITLE_FONT, lanes_width, swim_lanes


def _name(m: str | Mutant) -> str:
    return m if isinstance(m, str) else m.name


def replay(scenario_name: str, violation: Violation,
           mutants: Iterable[str | Mutant] = ()) -> Run:
    """A fresh run of the scenario, with ``mutants``, stepped through the
    violation's schedule; ValueError when it does not break the same invariant
    at the same step (the wrong scenario or mutants)."""
    run = get(scenario_name).new_run(mutants=mutants)
    run.run_spec(violation.schedule)
    again = [v for v in run.violations if v.invariant == violation.invariant
             and v.step == violation.step]
    if not again:
        got = "; ".join(f"{v.invariant} at step {v.step}" for v in run.violations) or "nothing"
        names = ", ".join(_name(m) for m in mutants) or "no mutant"
        raise ValueError(
            f"replaying {format_schedule(list(violation.schedule))} on {scenario_name} with "
            f"{names} breaks {got}, not {violation.invariant} at step {violation.step}: "
            "is it the counterexample's scenario and mutants?")
    return run


def title_of(scenario_name: str, violation: Violation, mutants: Iterable[str | Mutant],
             width_in: float) -> str:
    """The title's lines: what was run, what broke, how to replay it."""
    names = [_name(m) for m in mutants]
    head = (f"Counterexample: {scenario_name}"
            + (f" with {', '.join(names)} removed" if names else ""))
    body = f"{violation.invariant} at step {violation.step}: {violation.message}"
    tail = f"schedule {format_schedule(list(violation.schedule))}"
    if violation.removed:
        tail += f"; the guard that would have stopped it: {', '.join(violation.removed)}"
    return text.wrap("\n".join((head, body, tail)), (width_in - 0.25) * 72, TITLE_FONT,
                     weight="bold")


def counterexample_figure(scenario_name: str, violation: Violation,
                          mutants: Iterable[str | Mutant] = ()) -> Figure:
    """The counterexample's swim-lanes, its violating step outlined and marked,
    the violation as the (wrapped) title."""
    mutants = tuple(mutants)
    run = replay(scenario_name, violation, mutants)
    title = title_of(scenario_name, violation, mutants, lanes_width(len(run.trace)))
    return swim_lanes(run, highlight=violation.step, title=title)
