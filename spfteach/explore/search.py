"""Explore every schedule of a scenario: state caching, and a naive baseline.

The searches here are one loop (:mod:`.dfs`) over two ways of holding a state: a live
run (replayed to go back to a branch) or an abstract state (:mod:`.memo`). This module
chooses, runs and reports.

The explorer is a depth-first search over schedules (the loom habit: a path is
the list of thread choices).  Threads are generators, which cannot be copied,
so going back to a branch point means replaying its schedule from the start.
Two reductions keep the search small, both sound for the invariants checked:

* **State caching** — a state (shared state + every thread's frames and
  locals, :mod:`.statekey`) seen before is not explored again: whatever can
  happen from it was explored the first time.
* **Local steps first** — a step that touches no shared state (``Op.local``)
  commutes with every other step and no invariant can see it, so when one is
  enabled it is the only choice (a persistent set of size one).

``naive()`` enumerates every schedule without either, for comparison and for
the soundness tests: on scenarios where it finishes, both must reach the same
verdicts.
"""

from __future__ import annotations

import gc
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..model import checks
from ..model.checks import Mutant
from ..scenarios.base import Scenario, describe_result
from ..sched import format_schedule
from .dfs import Found, MemoSpace, ReplaySpace
from .dfs import search as dfs_search


@dataclass
class Counterexample:
    invariant: str
    message: str
    schedule: list[int]
    #: removed guards that would have stopped this run before it broke the invariant
    removed: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"invariant": self.invariant, "message": self.message,
                                "schedule": format_schedule(self.schedule),
                                "steps": len(self.schedule)}
        if self.removed:
            d["would_have_stopped_it"] = list(self.removed)
        return d


@dataclass
class Report:
    """What an exploration found, and what it cost."""

    scenario: str
    mutants: tuple[str, ...]
    method: str
    executions: int = 0  # paths that reached the end: all threads done, or stuck
    pruned: int = 0  # paths cut at a state already explored
    states: int = 0  # distinct states
    transitions: int = 0  # steps executed, replays included
    blocked_states: int = 0  # states where some live thread waits (lock, IPI)
    deadlocks: int = 0
    violating_runs: int = 0
    outcomes: set[tuple] = field(default_factory=set)
    unmodelled: set[str] = field(default_factory=set)  # paths the model does not implement
    counterexamples: dict[str, Counterexample] = field(default_factory=dict)
    seconds: float = 0.0
    complete: bool = True  # False when a budget stopped it
    #: every complete schedule, counted on the explored state graph (with
    #: ``local_first=False`` this is exactly what a naive enumeration would run);
    #: None when not counted: sleep sets leave edges out of the graph, so only
    #: ``search="state-caching"`` counts them
    schedules: int | None = None
    #: with ``explore(every=True)``: the shortest schedule to each violating state
    every_violation: list[Counterexample] = field(default_factory=list)
    #: steps whose effect was looked up instead of run (the memoizing search)
    cached_steps: int = 0
    #: the threads' names, in thread-id order, and which of them take a page
    #: fault (their result is a vm_fault_t; a writer's is a return value)
    threads: tuple[str, ...] = ()
    faults: tuple[bool, ...] = ()

    @property
    def violated(self) -> set[str]:
        return set(self.counterexamples)

    @property
    def states_per_second(self) -> float:
        return self.states / self.seconds if self.seconds else 0.0

    def outcome_list(self) -> list[list[dict[str, object]]]:
        """Each outcome as one entry per thread: its id, name and result in words
        (``0 (handled)``, ``VM_FAULT_SIGSEGV``, ``stuck``), sorted."""
        def words(i: int, r: object) -> str:
            if not isinstance(r, int):
                return str(r)  # "stuck", "oops", "not modelled"
            return describe_result(r) if i < len(self.faults) and self.faults[i] \
                else f"returned {r}"

        out = [[{"thread": i, "name": self.threads[i] if i < len(self.threads) else "",
                 "result": words(i, r)} for i, r in enumerate(o)] for o in self.outcomes]
        return sorted(out, key=lambda o: [str(x["result"]) for x in o])

    def verdict(self) -> tuple:
        """What must agree between a reduced and a brute-force search."""
        return (frozenset(self.violated), self.deadlocks > 0, frozenset(self.outcomes))

    def as_dict(self) -> dict[str, object]:
        return {
            "scenario": self.scenario, "mutants": list(self.mutants), "method": self.method,
            "complete": self.complete, "executions": self.executions, "pruned": self.pruned,
            "states": self.states, "transitions": self.transitions,
            "blocked_states": self.blocked_states, "deadlocks": self.deadlocks,
            "violating_runs": self.violating_runs,
            "violations": len(self.counterexamples),
            "counterexamples": {k: c.as_dict() for k, c in sorted(self.counterexamples.items())},
            "outcomes": self.outcome_list(),
            "unmodelled": sorted(self.unmodelled),
            "schedules": self.schedules,
            "seconds": round(self.seconds, 4),
            "states_per_second": round(self.states_per_second, 1),
        }


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """A search allocates tuples by the million (keys, schedules) and keeps many: with
    the default threshold of 700 allocations the cycle collector runs so often that it
    took about a fifth of the time.  Memory does not grow with 10,000 (measured: the
    same peak RSS on fault-vs-anon-vma); the threshold is restored afterwards."""
    old = gc.get_threshold()
    gc.set_threshold(10_000, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _mutants(mutants: Iterable[str | Mutant]) -> tuple[frozenset[Mutant], tuple[str, ...]]:
    """The registry objects for ``mutants`` (names are looked up: an unknown one is
    an error here, before any exploring), and their names for the report."""
    muts = frozenset(checks.mutant(m) for m in mutants)
    return muts, tuple(sorted(m.name for m in muts))


#: The searches ``explore(search=...)`` offers: sleep sets over the state cache
#: with memoized steps (the default, :mod:`.memo`), the same running every step,
#: and the state cache alone (the search before footprints).
SEARCHES = ("memo", "sleep-sets", "state-caching")


def explore(scen: Scenario, mutants: Iterable[str | Mutant] = (), max_seconds: float | None = None,
            max_states: int | None = None, local_first: bool = True,
            every: bool = False, progress: Callable[[int], None] | None = None,
            search: str = "memo") -> Report:
    """Every reachable state of ``scen`` (under ``mutants``), with counterexamples.

    ``search="sleep-sets"`` runs every step instead of looking up the effects of
    steps met before (same states, edges and verdicts; for comparison);
    ``search="state-caching"`` also turns the sleep sets off (the search before
    footprints); ``local_first=False`` turns the local-step rule
    off (with the state cache alone: to count every schedule);
    ``every=True`` also lists the shortest schedule to each violating state
    (``Report.every_violation``), not only the shortest per invariant.
    ``progress(states)`` is called every :data:`PROGRESS_EVERY` new states and
    once at the end (a widget's progress bar: the total is not known before)."""
    if search not in SEARCHES:
        raise ValueError(f"unknown search {search!r}: one of {', '.join(SEARCHES)}")
    muts, names = _mutants(mutants)
    space: ReplaySpace | MemoSpace
    if search == "memo":
        space = MemoSpace(scen, muts)
        method = "state-caching DFS with sleep sets and memoized steps"
    else:
        space = ReplaySpace(scen, muts)
        method = ("state-caching DFS with sleep sets" if search == "sleep-sets"
                  else "state-caching DFS")
    sleep_sets = search != "state-caching"
    rep = Report(scen.name, names, method)
    with _fewer_collections():
        found = _search(rep, space, cache=True, sleep_sets=sleep_sets, local_first=local_first,
                        max_seconds=max_seconds, max_states=max_states, progress=progress)
    rep.counterexamples = _shortest(found.edges, found.bad,
                                    rep.every_violation if every else None)
    if rep.complete and not sleep_sets:  # sleep sets leave edges out: no count
        rep.schedules = _count_paths(found.edges)
    if isinstance(space, MemoSpace):
        rep.cached_steps = space.memo.hits
    return rep


def _search(rep: Report, space: ReplaySpace | MemoSpace, **how: Any) -> Found:
    """Run the one search (:func:`.dfs.search`) on ``space`` and copy what it found,
    and what it cost, into ``rep``."""
    t0 = time.perf_counter()
    progress = how.get("progress")
    found = Found()
    dfs_search(space, found, **how)
    rep.seconds = time.perf_counter() - t0
    if progress is not None:
        progress(found.states)
    for name in ("states", "executions", "pruned", "blocked_states", "violating_runs",
                 "deadlocks", "outcomes", "unmodelled", "complete"):
        setattr(rep, name, getattr(found, name))
    rep.transitions = space.transitions
    first = space.first
    if first is not None:
        rep.threads = tuple(t.name for t in first.tasks)
        rep.faults = tuple(t.faults for t in first.tasks)
    return found


def _count_paths(edges: list[list[tuple[int, int]]]) -> int:
    """Complete schedules = paths from the start to a node with no way on (the
    state graph is acyclic: every step moves a thread forward)."""
    if not edges:
        return 0
    count: dict[int, int] = {}
    stack: list[tuple[int, bool]] = [(0, False)]
    while stack:
        node, done = stack.pop()
        if node in count:
            continue
        if done or not edges[node]:
            count[node] = sum(count[c] for _, c in edges[node]) if edges[node] else 1
            continue
        stack.append((node, True))
        stack.extend((c, False) for _, c in edges[node] if c not in count)
    return count[0]


def _shortest(edges: list[list[tuple[int, int]]], bad: dict[int, list],
              every: list[Counterexample] | None = None) -> dict:
    """Breadth-first over the explored graph: the shortest schedule to each
    violated invariant (and, into ``every``, the shortest to each violating state)."""
    if not edges:
        return {}
    prev: dict[int, tuple[int, int]] = {0: (-1, -1)}
    order = deque([0])
    found: dict[str, Counterexample] = {}
    while order:
        node = order.popleft()
        if node in bad:
            path: list[int] = []
            n = node
            while prev[n][0] != -1:
                path.append(prev[n][1])
                n = prev[n][0]
            path.reverse()
            for v in bad[node]:
                if v.invariant not in found:
                    found[v.invariant] = Counterexample(v.invariant, v.message, path, v.removed)
            if every is not None:
                every.extend(Counterexample(v.invariant, v.message, path, v.removed)
                             for v in bad[node])
        for tid, child in edges[node]:
            if child not in prev:
                prev[child] = (node, tid)
                order.append(child)
    return found


def naive(scen: Scenario, mutants: Iterable[str | Mutant] = (), max_seconds: float | None = None,
          max_executions: int | None = None) -> Report:
    """Every schedule, one by one: the same search with no state cache, no sleep sets and
    no local-step rule."""
    muts, names = _mutants(mutants)
    rep = Report(scen.name, names, "naive enumeration")
    with _fewer_collections():
        found = _search(rep, ReplaySpace(scen, muts, keys=False), cache=False,
                        sleep_sets=False, local_first=False, max_seconds=max_seconds,
                        max_executions=max_executions)
    rep.counterexamples = {inv: Counterexample(inv, v.message, sched, v.removed)
                           for inv, (sched, v) in found.shortest.items()}
    return rep
