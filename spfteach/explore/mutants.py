"""Mutants: the speculative path with one check switched off.

Every registered check is a mutant of the same name (the check never fires),
and a few mechanisms that are not a single ``if`` can be switched off too:
``trylock_is_lock`` (the PTE lock helpers spin instead of trying) and
``irqs_on_walk`` (the walk runs with IRQs on).  A mutant is *caught* by a
scenario when exploring the scenario under the mutant breaks an invariant; the
matrix of mutants × scenarios is the workbook's proof that each check is there
for a reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from ..model import checks
from ..scenarios import SCENARIOS
from .search import Counterexample, Report, explore

#: Mechanisms that are not one registered check (name -> what the mutant does).
EXTRA: dict[str, str] = {m.name: m.description for m in checks.MECHANISMS}

UnknownMutant = checks.UnknownCheck


def names() -> list[str]:
    """Every mutant: the guards and steps of the registry, then the mechanisms."""
    return list(checks.MUTANTS)


def validate(name: str) -> str:
    """``name`` if it names a mutant; else UnknownMutant, with the names to use."""
    return checks.mutant(name).name


def describe(name: str) -> str:
    return checks.mutant(name).describe()


@dataclass
class Row:
    """One mutant across the scenarios."""

    mutant: str
    caught_by: list[str] = field(default_factory=list)
    counterexample: Counterexample | None = None
    counterexample_scenario: str | None = None
    invariants: set[str] = field(default_factory=set)


@dataclass
class Matrix:
    rows: dict[str, Row]
    clean: dict[str, Report]  # scenario -> unmutated report

    def as_json(self) -> dict[str, object]:
        mutants: dict[str, object] = {}
        for name, row in self.rows.items():
            entry: dict[str, object] = {"caught_by": row.caught_by,
                                        "invariants": sorted(row.invariants),
                                        "description": describe(name)}
            if row.counterexample is not None:
                entry["counterexample"] = {"scenario": row.counterexample_scenario,
                                           **row.counterexample.as_dict()}
            mutants[name] = entry
        scenarios = {name: {"executions": r.executions, "violations": len(r.counterexamples),
                            "states": r.states, "seconds": round(r.seconds, 4)}
                     for name, r in self.clean.items()}
        return {"mutants": mutants, "scenarios": scenarios}


def _job(args: tuple[str, str | None]) -> tuple[str, str | None, Report]:
    scen, mutant = args
    return scen, mutant, explore(SCENARIOS[scen], [mutant] if mutant else [])


def matrix(mutants: Iterable[str] | None = None, scenarios: Iterable[str] | None = None,
           jobs: int | None = None, progress=None) -> Matrix:
    """Explore every scenario unmutated and under every mutant."""
    muts = list(mutants) if mutants is not None else names()
    scens = list(scenarios) if scenarios is not None else list(SCENARIOS)
    work = [(s, None) for s in scens] + [(s, m) for m in muts for s in scens]
    jobs = jobs or min(os.cpu_count() or 1, 4)
    results: list[tuple[str, str | None, Report]] = []
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            for i, res in enumerate(pool.map(_job, work, chunksize=4)):
                results.append(res)
                if progress:
                    progress(i + 1, len(work))
    else:
        for i, w in enumerate(work):
            results.append(_job(w))
            if progress:
                progress(i + 1, len(work))
    rows = {m: Row(m) for m in muts}
    clean: dict[str, Report] = {}
    for scen, mutant, rep in results:
        if mutant is None:
            clean[scen] = rep
            continue
        if not rep.counterexamples:
            continue
        row = rows[mutant]
        row.caught_by.append(scen)
        row.invariants |= rep.violated
        for c in rep.counterexamples.values():
            if row.counterexample is None or len(c.schedule) < len(row.counterexample.schedule):
                row.counterexample, row.counterexample_scenario = c, scen
    return Matrix(rows, clean)
