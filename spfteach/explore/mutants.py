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

import multiprocessing
import os
import signal
from collections.abc import Iterable
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


def names_of(design: str) -> list[str]:
    """The mutants of one design: the speculative path's, or the per-VMA locks'."""
    from ..model.pervma.checks import MUTANTS as PER_VMA

    return list(PER_VMA) if design == "per-vma" else names()


def validate(name: str, design: str = "spf") -> str:
    """``name`` if it names a mutant of ``design``; else UnknownMutant, with the names
    to use."""
    m = checks.mutant(name).name
    if m not in names_of(design):
        other = "per-vma" if design == "spf" else "spf"
        raise UnknownMutant(f"{m} is a mutant of the {other} design: add --design {other}, "
                            f"or pick one of: {', '.join(names_of(design))}")
    return m


def describe(name: str) -> str:
    return checks.mutant(name).describe()


@dataclass
class Row:
    """One mutant across the scenarios (and, for one a pair covers, the pair)."""

    mutant: str
    caught_by: list[str] = field(default_factory=list)
    counterexample: Counterexample | None = None
    counterexample_scenario: str | None = None
    invariants: set[str] = field(default_factory=set)
    #: the registry's pair: removing them together with this one; the scenarios
    #: where that breaks an invariant in a run this guard would have stopped
    pair: tuple[str, ...] = ()
    pair_caught_by: list[str] = field(default_factory=list)
    #: per scenario that catches the pair, its shortest counterexample
    pair_catches: dict[str, Counterexample] = field(default_factory=dict)
    pair_counterexample: Counterexample | None = None
    pair_counterexample_scenario: str | None = None
    @staticmethod
    def _simplest(scen: str, c: Counterexample) -> tuple[bool, int]:
        """The counterexample shown is the shortest of a scenario with one or two
        threads if there is one (a three-thread race may be shorter but is harder
        to read, and the exercises name two-thread ones)."""
        return (len(SCENARIOS[scen].threads) > 2, len(c.schedule))

    def catch(self, scen: str, rep: Report, paired: bool = False) -> None:
        """Record ``rep`` (the mutant, or the pair, explored in ``scen``)."""
        if paired:
            # The pair counts as caught where a violating run passed a point where
            # this guard would have stopped it: there the guard itself matters.
            mine = [c for c in rep.every_violation if self.mutant in c.removed]
            if mine:
                self.pair_caught_by.append(scen)
                self.pair_catches[scen] = min(mine, key=lambda c: len(c.schedule))
            return
        if not rep.counterexamples:
            return
        shortest = min(rep.counterexamples.values(), key=lambda c: len(c.schedule))
        self.caught_by.append(scen)
        self.invariants |= rep.violated
        best, where = self.counterexample, self.counterexample_scenario
        if best is None or where is None or \
                self._simplest(scen, shortest) < self._simplest(where, best):
            self.counterexample, self.counterexample_scenario = shortest, scen

    def choose_pair_counterexample(self, partners_catch: set[str]) -> None:
        """The pair's counterexample to show: the shortest in a scenario where the
        partners alone are not caught (there the check itself makes the difference),
        else the shortest anywhere."""
        for pool in ([s for s in self.pair_catches if s not in partners_catch],
                     list(self.pair_catches)):
            if pool:
                scen = min(pool, key=lambda s: self._simplest(s, self.pair_catches[s]))
                self.pair_counterexample = self.pair_catches[scen]
                self.pair_counterexample_scenario = scen
                return


@dataclass
class Matrix:
    rows: dict[str, Row]
    clean: dict[str, Report]  # scenario -> unmutated report

    def as_json(self) -> dict[str, object]:
        mutants: dict[str, object] = {}
        for name, row in self.rows.items():
            m = checks.mutant(name)
            entry: dict[str, object] = {"caught_by": row.caught_by,
                                        "invariants": sorted(row.invariants),
                                        "description": describe(name)}
            if row.counterexample is not None:
                entry["counterexample"] = {"scenario": row.counterexample_scenario,
                                           **row.counterexample.as_dict()}
            if isinstance(m, checks.Check) and m.note:
                entry["note"] = m.note
            if row.pair:
                entry["pair"] = list(row.pair)
                entry["pair_caught_by"] = row.pair_caught_by
                if row.pair_counterexample is not None:
                    entry["pair_counterexample"] = {
                        "scenario": row.pair_counterexample_scenario,
                        **row.pair_counterexample.as_dict()}
            mutants[name] = entry
        scenarios = {name: {"executions": r.executions, "violations": len(r.counterexamples),
                            "states": r.states, "seconds": round(r.seconds, 4)}
                     for name, r in self.clean.items()}
        return {"mutants": mutants, "scenarios": scenarios}


Job = tuple[str, tuple[str, ...]]


def _job(args: Job) -> tuple[str, tuple[str, ...], Report]:
    scen, muts = args
    return scen, muts, explore(SCENARIOS[scen], muts, every=len(muts) > 1)


def _worker_init() -> None:
    """In a worker, before SIGINT is unblocked: a Ctrl-C is the parent's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _in_workers(work: list[Job], jobs: int, progress) -> list:
    """Run the jobs on ``jobs`` forked workers.  The workers ignore Ctrl-C: they
    are forked with SIGINT *blocked*, so none can die half-started and print a
    traceback, and ignore it before they unblock it.  Blocking rather than
    ignoring in the parent keeps a Ctrl-C typed while the pool starts: it stays
    pending and is delivered when the parent unblocks, which then terminates
    the workers and says so once (an ignored one would be lost, and the search
    would run on for minutes)."""
    ctx = multiprocessing.get_context("fork")
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        pool = ctx.Pool(jobs, initializer=_worker_init)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    results = []
    try:
        for i, res in enumerate(pool.imap(_job, work, chunksize=4)):
            results.append(res)
            if progress:
                progress(i + 1, len(work))
    except BaseException:
        pool.terminate()
        pool.join()
        raise
    pool.close()
    pool.join()
    return results


def matrix(mutants: Iterable[str] | None = None, scenarios: Iterable[str] | None = None,
           jobs: int | None = None, progress=None) -> Matrix:
    """Explore every scenario unmutated, under every mutant, and, for a mutant the
    registry pairs with others, under the pair."""
    muts = list(mutants) if mutants is not None else names()
    scens = list(scenarios) if scenarios is not None else list(SCENARIOS)
    pairs = {m: c.pair for m in muts
             if isinstance(c := checks.mutant(m), checks.Check) and c.pair}
    work: list[Job] = [(s, ()) for s in scens] + [(s, (m,)) for m in muts for s in scens]
    work += [(s, (m, *p)) for m, p in pairs.items() for s in scens]
    jobs = jobs or min(os.cpu_count() or 1, 4)
    results: list[tuple[str, tuple[str, ...], Report]] = []
    if jobs > 1:
        results = _in_workers(work, jobs, progress)
    else:
        for i, w in enumerate(work):
            results.append(_job(w))
            if progress:
                progress(i + 1, len(work))
    rows = {m: Row(m, pair=pairs.get(m, ())) for m in muts}
    clean: dict[str, Report] = {}
    for scen, ms, rep in results:
        if not ms:
            clean[scen] = rep
        else:
            rows[ms[0]].catch(scen, rep, paired=len(ms) > 1)
    for m, p in pairs.items():
        partners = {s for x in p if x in rows for s in rows[x].caught_by}
        rows[m].choose_pair_counterexample(partners)
    return Matrix(rows, clean)
