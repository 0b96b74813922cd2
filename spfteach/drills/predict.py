"""The predict drill (the OSTEP habit: ``--seed`` a problem, ``--solve`` it).

A seed gives three problems, each a race of the catalogue, a schedule, and
maybe a mutant (one check of the speculative path switched off).  For each,
predict what happens first to the speculative fault (thread 0):

* it **completes**: no check fires and no invariant breaks;
* a **check** of the speculative path fires (its name, as ``spfteach checks``
  lists it: ``spf_seq_retry``), and the fault gives up;
* an **invariant** breaks (its name, as a run prints it: ``use-after-free``);

and what ``handle_speculative_fault()`` returns: ``0`` (handled),
``VM_FAULT_RETRY`` (given up: the classic path runs next), ``VM_FAULT_SIGSEGV``,
or ``nothing`` (the kernel oopsed first).  The three problems end in the three
different ways, so no single guess is right twice.  The model is sequentially
consistent: a schedule fixes everything.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass

from ..model.mm_types import VM_FAULT_RETRY, VM_FAULT_SIGSEGV
from ..scenarios import get
from ..sched import Run, ScheduleError, format_schedule, parse_schedule
from ..trace import format_step

#: Races whose thread 0 is a speculative fault and thread 1 a writer.
RACES = ("fault-vs-munmap", "fault-vs-mprotect", "fault-vs-split", "present-vs-munmap",
         "fault-vs-thp-collapse-v9", "fault-vs-mremap", "fault-vs-mbind", "ipi-vs-ptl",
         "present-vs-thp-collapse", "fault-vs-pgtable-free")
#: Mutants a problem may run under: none of them is a mutant of the break-it exercise
#: (a test holds that: a predict problem must not hand out a break-it answer).
MUTANTS = ("hpf_vma_changed", "maplock_vma_changed", "maplock_pmd_same", "maplock_trylock",
           "spinlock_trylock", "spf_seq_retry")
KINDS = ("completes", "check", "invariant")
RETURNS = ("0", "VM_FAULT_RETRY", "VM_FAULT_SIGSEGV", "nothing")
_FIRES = re.compile(r"^check (\S+): (aborts|fails)")


@dataclass(frozen=True)
class Problem:
    scenario: str
    mutant: str | None
    schedule: str


@dataclass(frozen=True)
class Outcome:
    """What happened first to the fault, and what it returned."""

    kind: str    # one of KINDS
    first: str   # "completes", a check's name, or an invariant's name
    returns: str  # one of RETURNS
    step: int | None  # where it happened (None: it completed)


def run_of(p: Problem) -> Run:
    """The problem's run: its schedule, then the lowest-numbered thread to the end."""
    run = get(p.scenario).new_run([p.mutant] if p.mutant else [])
    run.run_spec(p.schedule)
    return run.finish()


def outcome(p: Problem) -> Outcome:
    run = run_of(p)
    fired = next(((s.index, m.group(1)) for s in run.trace if s.tid == 0
                  for m in map(_FIRES.match, s.notes) if m), None)
    broke = run.violations[0] if run.violations else None
    spf = run.tasks[0].spf_result
    returns = ("nothing" if spf is None else "0" if spf == 0 else
               "VM_FAULT_RETRY" if spf & VM_FAULT_RETRY else
               "VM_FAULT_SIGSEGV" if spf & VM_FAULT_SIGSEGV else hex(spf))
    if broke is not None and (fired is None or broke.step <= fired[0]):
        return Outcome("invariant", broke.invariant, returns, broke.step)
    if fired is not None:
        return Outcome("check", fired[1], returns, fired[0])
    return Outcome("completes", "completes", returns, None)


def _candidate(rng: random.Random, kind: str) -> Problem:
    scen = rng.choice(RACES)
    # A mutant on every problem that breaks an invariant, and on half of the others:
    # that a check is removed says what may happen, not what does.
    mutant = rng.choice(MUTANTS) if kind == "invariant" or rng.random() < 0.5 else None
    a, b = rng.randrange(0, 45), rng.randrange(1, 16)
    return Problem(scen, mutant, f"0*{a},1*{b},0*" if a else f"1*{b},0*")


@functools.lru_cache(maxsize=64)
def problems(seed: int) -> tuple[Problem, ...]:
    """Three problems, one ending each way, in an order of the seed's."""
    rng = random.Random(seed)
    kinds = list(KINDS)
    rng.shuffle(kinds)
    out = []
    for kind in kinds:
        while True:
            p = _candidate(rng, kind)
            try:
                got = outcome(p)
            except ScheduleError:
                continue
            if got.kind == kind and got.returns in RETURNS:
                out.append(p)
                break
    return tuple(out)


def describe(p: Problem, n: int) -> str:
    """One problem, as a student reads it."""
    from ..model.checks import get as get_check

    scen = get(p.scenario)
    lines = [f"Problem {n}: {p.scenario}: {scen.title}"]
    lines += [f"  {d}" for d in scen.threads]
    if p.mutant:
        lines.append(f"  mutant: {p.mutant}: {get_check(p.mutant).describe()}")
    else:
        lines.append("  no mutant: the port as it is")
    lines.append(f"  schedule: {p.schedule} (then the lowest-numbered thread that can run, to "
                 "the end)")
    return "\n".join(lines)


def solve(p: Problem, last: int = 8) -> str:
    """The outcome in words, and the run's steps up to it."""
    o = outcome(p)
    run = run_of(p)
    what = {"completes": "the fault completes: no check fires and no invariant breaks",
            "check": f"check {o.first} fires first (step {o.step}): the fault gives up",
            "invariant": f"invariant {o.first} breaks first (step {o.step})"}[o.kind]
    upto = len(run.trace) if o.step is None else o.step + 1
    steps = [line for s in run.trace[max(0, upto - last):upto] for line in format_step(s, True)]
    return "\n".join([f"  {what}; handle_speculative_fault() returns {o.returns}", *steps])


def normalized(answer: object) -> str:
    """An answer as compared: stripped, ``0``/``"0"`` alike, case of constants ignored."""
    text = str(answer).strip()
    return text.upper() if text.upper().startswith("VM_FAULT") else text.lower()


__all__ = ["KINDS", "MUTANTS", "RACES", "RETURNS", "Outcome", "Problem", "describe",
           "format_schedule", "normalized", "outcome", "parse_schedule", "problems", "solve"]
