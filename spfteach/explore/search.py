"""Explore every schedule of a scenario: state caching, and a naive baseline.

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

from ..model import checks
from ..model.checks import Mutant
from ..model.footprint import Footprint, independent
from ..scenarios.base import Scenario, describe_result
from ..sched import Run, Violation, format_schedule
from .memo import Memo, State
from .statekey import Hashed, thread_key


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


def _replay(scen: Scenario, mutants: frozenset[Mutant], prefix: list[int]) -> Run:
    return scen.new_run(mutants, record=False).replay(prefix)


def _outcome(run: Run) -> tuple:
    return tuple(run.results.get(t.tid, "stuck") for t in run.tasks)


class _Keys:
    """State keys with per-thread caching: only the thread that stepped changed
    its frames, so only its key is recomputed."""

    def __init__(self, run: Run, at_parent: list[Hashed] | None = None) -> None:
        """``at_parent``: the thread keys at the node the run's last step left; only
        the thread that took that step has moved since, so only its key is new."""
        self.run = run
        if at_parent is None or not run.schedule:
            self.threads = [self._thread(t.tid) for t in run.tasks]
        else:
            self.threads = list(at_parent)
            self.stepped(run.schedule[-1])

    def _thread(self, tid: int) -> Hashed:
        run = self.run
        finished = tid in run.results
        return Hashed(thread_key(run.tasks[tid], None if finished else run._gens[tid],
                                 run.results.get(tid), finished))

    def stepped(self, tid: int) -> None:
        self.threads[tid] = self._thread(tid)

    def key(self) -> Hashed:
        return Hashed((self.run.machine.state_key(), tuple(self.threads)))


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
    with _fewer_collections():
        if search == "memo":
            return _explore_memo(scen, mutants, max_seconds, max_states, local_first, every,
                                 progress)
        return _explore(scen, mutants, max_seconds, max_states, local_first, every, progress,
                        search == "sleep-sets")


#: How often (in new states) ``explore`` reports its progress.
PROGRESS_EVERY = 100


def _explore(scen: Scenario, mutants: Iterable[str | Mutant], max_seconds: float | None,
             max_states: int | None, local_first: bool, every: bool = False,
             progress: Callable[[int], None] | None = None, sleep_sets: bool = False) -> Report:
    muts, names = _mutants(mutants)
    rep = Report(scen.name, names,
                 "state-caching DFS with sleep sets" if sleep_sets else "state-caching DFS")
    t0 = time.perf_counter()
    visited: dict[Hashed, int] = {}
    edges: list[list[tuple[int, int]]] = []  # node -> [(tid, child)]
    bad: dict[int, list] = {}  # node -> violations found on arriving there
    #: node -> the sleep set it was explored with (sleep sets only): a later visit
    #: with a smaller one must still explore what that one left asleep
    slept: list[frozenset[int]] = []
    # (schedule, the node it branches from, the thread keys at that node, the
    # sleep set of the state the schedule reaches)
    stack: list[tuple[list[int], int | None, list[Hashed] | None, frozenset[int]]] = \
        [([], None, None, _AWAKE)]

    def new_node() -> int:
        edges.append([])
        slept.append(_AWAKE)
        return len(edges) - 1

    while stack:
        if (max_seconds is not None and time.perf_counter() - t0 > max_seconds) or \
                (max_states is not None and rep.states >= max_states):
            rep.complete = False
            break
        prefix, parent, at_parent, sleep = stack.pop()
        run = _replay(scen, muts, prefix)
        rep.transitions += len(prefix)
        if not rep.threads:
            rep.threads = tuple(t.name for t in run.tasks)
            rep.faults = tuple(t.faults for t in run.tasks)
        keys = _Keys(run, at_parent)
        while True:
            if run.violations:
                node = new_node()
                if parent is not None:
                    edges[parent].append((run.schedule[-1], node))
                bad[node] = run.violations
                rep.violating_runs += 1
                rep.deadlocks += any(v.invariant == "deadlock" for v in run.violations)
                break
            key = keys.key()
            seen = visited.get(key)
            if seen is not None:
                if parent is not None:
                    edges[parent].append((run.schedule[-1], seen))
                # Explored before with sleep set H: what this visit must add is what
                # H left asleep and this visit's sleep set does not.
                wake = slept[seen] - sleep if sleep_sets else _AWAKE
                if not wake:
                    rep.pruned += 1
                    break
                slept[seen] &= sleep
                node = seen
                enabled = run.runnable()
                choices = [tid for tid in _choices(run, enabled, local_first) if tid in wake]
                if not choices:
                    rep.pruned += 1
                    break
            else:
                node = _new_state(rep, visited, edges, slept, key, sleep, parent,
                                  run.schedule[-1] if run.schedule else -1, progress)
                enabled = run.runnable()
                if len(enabled) < len(run.alive()):
                    rep.blocked_states += 1
                if not enabled:
                    rep.executions += 1
                    rep.outcomes.add(_outcome(run))
                    rep.unmodelled.update(run.unmodelled)
                    break
                choices = _choices(run, enabled, local_first)
                if sleep:
                    choices = [tid for tid in choices if tid not in sleep]
                    if not choices:
                        # everything from here starts with a step explored elsewhere
                        rep.pruned += 1
                        break
            first_sleep = _AWAKE
            if sleep_sets:
                ops = run.pending
                fps = {tid: ops[tid].footprint for tid in enabled}
                # A choice's sleep set: what was asleep here or explored from here
                # before it (in the order taken: the first choice, then the stack
                # pops the others in list order), and commutes with it.
                first_sleep = _asleep(sleep, fps, choices[0])
            if len(choices) > 1:
                here = list(keys.threads)
                for i in range(len(choices) - 1, 0, -1):
                    tid = choices[i]
                    branch_sleep = _asleep(sleep | frozenset(choices[:i]), fps, tid) \
                        if sleep_sets else _AWAKE
                    stack.append((run.schedule + [tid], node, here, branch_sleep))
            parent = node
            sleep = first_sleep
            run.step(choices[0])
            keys.stepped(choices[0])
            rep.transitions += 1
    rep.executions += rep.violating_runs
    rep.seconds = time.perf_counter() - t0
    if progress is not None:
        progress(rep.states)
    rep.counterexamples = _shortest(edges, bad, rep.every_violation if every else None)
    if rep.complete and not sleep_sets:  # sleep sets leave edges out: no count
        rep.schedules = _count_paths(edges)
    return rep


_AWAKE: frozenset[int] = frozenset()


def _new_state(rep: Report, visited: dict, edges: list[list[tuple[int, int]]],
               slept: list[frozenset[int]], key: object, sleep: frozenset[int],
               parent: int | None, tid: int, progress: Callable[[int], None] | None) -> int:
    """A node for a state met for the first time, explored with ``sleep``, and the
    edge that led to it (by ``tid``'s step from ``parent``)."""
    edges.append([])
    slept.append(sleep)
    node = len(edges) - 1
    visited[key] = node
    rep.states += 1
    if progress is not None and rep.states % PROGRESS_EVERY == 0:
        progress(rep.states)
    if parent is not None:
        edges[parent].append((tid, node))
    return node


def _explore_memo(scen: Scenario, mutants: Iterable[str | Mutant], max_seconds: float | None,
                  max_states: int | None, local_first: bool, every: bool = False,
                  progress: Callable[[int], None] | None = None) -> Report:
    """``_explore`` with sleep sets, over abstract states (:mod:`.memo`): the same
    choices in the same order, so the same states, edges and counterexamples;
    a step runs for real only the first time it is met."""
    muts, names = _mutants(mutants)
    rep = Report(scen.name, names, "state-caching DFS with sleep sets and memoized steps")
    t0 = time.perf_counter()
    memo = Memo()
    visited: dict[tuple, int] = {}
    edges: list[list[tuple[int, int]]] = []
    bad: dict[int, list] = {}
    slept: list[frozenset[int]] = []
    #: final states whose end judgement found violations (they are no nodes)
    end_bad: dict[tuple, list[Violation]] = {}
    root = scen.new_run(muts, record=False)
    rep.threads = tuple(t.name for t in root.tasks)
    rep.faults = tuple(t.faults for t in root.tasks)
    start = memo.state_of(root)
    memo.learn_enabled(start, root)
    # (state to step from or None for the start, the node it is, the thread to
    # step, the sleep set of the state that step reaches)
    stack: list[tuple[State | None, int | None, int, frozenset[int]]] = \
        [(None, None, -1, _AWAKE)]
    live: Run | None = None  # a run in state ``live_at`` (no run at all: None)
    live_at: State | None = None

    def new_node() -> int:
        edges.append([])
        slept.append(_AWAKE)
        return len(edges) - 1

    def materialize(s: State) -> Run:
        """A live run in ``s``: the live run taken on if ``s`` lies ahead of it on
        its way (the search got there through recorded steps), else the schedule
        replayed from the start."""
        nonlocal live, live_at
        if live_at is not s:
            n = len(live_at.schedule) if live_at is not None else 0
            if live is not None and live_at is not None and n <= len(s.schedule) and \
                    s.schedule[:n] == live_at.schedule:
                live.replay(s.schedule[n:])
                rep.transitions += len(s.schedule) - n
            else:
                live = _replay(scen, muts, s.schedule)
                rep.transitions += len(s.schedule)
            live_at = s
        assert live is not None
        return live

    def take(s: State, tid: int) -> tuple[State, list[Violation]]:
        """The state ``tid``'s step leads to from ``s``, and the violations found
        on the way (the step's and, for a final state, the end judgement's)."""
        nonlocal live, live_at
        e = memo.effect(s, tid)
        if e is not None:
            after = memo.apply(s, tid, e)  # the live run stays where it is, behind
            if e.violations and not enabled_in(after):
                # a violating last step is judged at the end too, as a live run does
                return after, list(materialize(after).violations)
            return after, memo.violations(after, e)
        run = materialize(s)
        after, e, end = memo.step(s, run, tid)
        rep.transitions += 1
        live_at = after
        viols = memo.violations(after, e)
        if viols:
            return after, viols + end
        if end:
            end_bad[after.key()] = end
        return after, viols

    def enabled_in(s: State) -> list[int]:
        got = [memo.is_enabled(s, tid) for tid in range(len(s.threads))]
        if None in got:
            memo.learn_enabled(s, materialize(s))
            got = [memo.is_enabled(s, tid) for tid in range(len(s.threads))]
        return [tid for tid, on in enumerate(got) if on]

    while stack:
        if (max_seconds is not None and time.perf_counter() - t0 > max_seconds) or \
                (max_states is not None and rep.states >= max_states):
            rep.complete = False
            break
        frm, parent, tid, sleep = stack.pop()
        if frm is None:
            state, viols = start, []
            live, live_at = root, start
        else:
            state, viols = take(frm, tid)
        while True:
            key = state.key() if not viols else None
            if key is not None and key in end_bad:
                viols = end_bad[key]
            if viols:
                node = new_node()
                if parent is not None:
                    edges[parent].append((state.schedule[-1], node))
                bad[node] = viols
                rep.violating_runs += 1
                rep.deadlocks += any(v.invariant == "deadlock" for v in viols)
                break
            seen = visited.get(key)
            if seen is not None:
                if parent is not None:
                    edges[parent].append((state.schedule[-1], seen))
                wake = slept[seen] - sleep
                if not wake:
                    rep.pruned += 1
                    break
                slept[seen] &= sleep
                node = seen
                enabled = enabled_in(state)
                choices = [t for t in _memo_choices(state, enabled, local_first) if t in wake]
                if not choices:
                    rep.pruned += 1
                    break
            else:
                enabled = enabled_in(state)
                if not enabled:
                    # A final state: its end judgement reads everything, so it is
                    # judged on a live run (the step that led here may have been
                    # looked up; ``take`` has kept what a live one found).
                    run = materialize(state)
                    end = run.violations
                    if end:
                        end_bad[key] = list(end)
                        continue  # judged again above: a violating arrival
                    node = _new_state(rep, visited, edges, slept, key, sleep, parent,
                                      state.schedule[-1] if state.schedule else -1, progress)
                    if any(not t.done for t in state.threads):
                        rep.blocked_states += 1
                    rep.executions += 1
                    rep.outcomes.add(_outcome(run))
                    rep.unmodelled.update(run.unmodelled)
                    break
                node = _new_state(rep, visited, edges, slept, key, sleep, parent,
                                  state.schedule[-1] if state.schedule else -1, progress)
                alive = sum(1 for t in state.threads if not t.done)
                if len(enabled) < alive:
                    rep.blocked_states += 1
                choices = _memo_choices(state, enabled, local_first)
                if sleep:
                    choices = [t for t in choices if t not in sleep]
                    if not choices:
                        rep.pruned += 1
                        break
            fps = {t: memo.footprint(state.threads[t].fp) for t in enabled}
            first_sleep = _asleep(sleep, fps, choices[0])
            for i in range(len(choices) - 1, 0, -1):
                t = choices[i]
                stack.append((state, node, t, _asleep(sleep | frozenset(choices[:i]), fps, t)))
            parent = node
            sleep = first_sleep
            state, viols = take(state, choices[0])
    rep.executions += rep.violating_runs
    rep.cached_steps = memo.hits
    rep.seconds = time.perf_counter() - t0
    if progress is not None:
        progress(rep.states)
    rep.counterexamples = _shortest(edges, bad, rep.every_violation if every else None)
    return rep


def _memo_choices(s: State, enabled: list[int], local_first: bool) -> list[int]:
    """``_choices`` on an abstract state."""
    return _ordered(enabled, lambda tid: s.threads[tid].local, s.schedule, local_first)


def _choices(run: Run, enabled: list[int], local_first: bool) -> list[int]:
    """The threads to run from a state, in the order to take them."""
    return _ordered(enabled, lambda tid: run.pending[tid].local, run.schedule, local_first)


def _ordered(enabled: list[int], is_local: Callable[[int], bool], schedule: list[int],
             local_first: bool) -> list[int]:
    if local_first:
        local = next((tid for tid in enabled if is_local(tid)), None)
        if local is not None:
            return [local]
    if schedule and schedule[-1] in enabled and enabled[0] != schedule[-1]:
        # Keep running the thread that just ran: a replay then opens a whole
        # run of new states instead of one (replays dominate the cost).
        last = schedule[-1]
        return [last] + [tid for tid in enabled if tid != last]
    return enabled


def _asleep(candidates: frozenset[int], fps: dict[int, Footprint | None],
            tid: int) -> frozenset[int]:
    """The sleep set after ``tid`` steps: the candidates whose pending step commutes
    with ``tid``'s (declared footprints that do not conflict; undeclared never does)."""
    mine = fps[tid]
    if mine is None or not candidates:
        return _AWAKE
    return frozenset(u for u in candidates
                     if u != tid and u in fps and independent(fps[u], mine))


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
    """Every schedule, one by one: no state cache, no local-step rule."""
    with _fewer_collections():
        return _naive(scen, mutants, max_seconds, max_executions)


def _naive(scen: Scenario, mutants: Iterable[str | Mutant], max_seconds: float | None,
           max_executions: int | None) -> Report:
    muts, names = _mutants(mutants)
    rep = Report(scen.name, names, "naive enumeration")
    t0 = time.perf_counter()
    stack: list[list[int]] = [[]]
    while stack:
        if (max_seconds is not None and time.perf_counter() - t0 > max_seconds) or \
                (max_executions is not None and rep.executions >= max_executions):
            rep.complete = False
            break
        prefix = stack.pop()
        run = _replay(scen, muts, prefix)
        rep.transitions += len(prefix)
        if not rep.threads:
            rep.threads = tuple(t.name for t in run.tasks)
            rep.faults = tuple(t.faults for t in run.tasks)
        while True:
            if run.violations:
                rep.executions += 1
                rep.violating_runs += 1
                rep.deadlocks += any(v.invariant == "deadlock" for v in run.violations)
                for v in run.violations:
                    c = rep.counterexamples.get(v.invariant)
                    if c is None or len(c.schedule) > len(run.schedule):
                        rep.counterexamples[v.invariant] = Counterexample(
                            v.invariant, v.message, list(run.schedule), v.removed)
                break
            enabled = run.runnable()
            if not enabled:
                rep.executions += 1
                rep.outcomes.add(_outcome(run))
                rep.unmodelled.update(run.unmodelled)
                break
            for tid in enabled[1:]:
                stack.append(run.schedule + [tid])
            run.step(enabled[0])
            rep.transitions += 1
    rep.seconds = time.perf_counter() - t0
    return rep
