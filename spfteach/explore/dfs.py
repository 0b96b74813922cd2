"""The one depth-first search, over a small protocol with two implementations.

Every search of the explorer is this loop (:func:`search`): take a state, stop at a violation,
stop at a state seen before (unless it was explored with a larger sleep set), else note it, list
the threads that can step, order them (local steps first, the thread that just ran next), put the
others on the stack with their sleep sets and step the first. What differs is how a state is
held, and the loop asks that through a :class:`Space`:

- :class:`ReplaySpace`: a state is a live run. Threads are generators, which cannot be copied, so
  going back to a branch replays its schedule from the start.
- :class:`MemoSpace` (:mod:`.memo`): a state is abstract (the shared objects' values and the
  threads' keys); a step met before is looked up, and a live run is replayed only when the search
  needs one (a step never met, a final state to judge).

``cache=False`` turns the state cache off, and with it the graph: the naive enumeration of every
schedule is the same loop, recording the shortest schedule to each violation as it goes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from ..model.checks import Mutant
from ..model.footprint import Footprint
from ..scenarios.base import Scenario
from ..sched import Run, Violation
from .memo import Memo, State
from .statekey import Hashed, thread_key

_AWAKE: dict = {}
_NONE: frozenset[int] = frozenset()


class Space(Protocol):
    """What the search needs of the states it walks (``cur``: a state held by the space,
    its ``schedule`` an attribute; ``entry``: a branch put aside on the stack)."""

    def start(self) -> Any: ...
    def resume(self, entry: Any) -> Any: ...
    def branch(self, cur: Any, tid: int) -> Any: ...
    def advance(self, cur: Any, tid: int) -> Any: ...
    def violations(self, cur: Any) -> list[Violation]: ...
    def end_violations(self, cur: Any) -> list[Violation]: ...
    def key(self, cur: Any) -> object: ...
    def enabled(self, cur: Any) -> list[int]: ...
    def alive(self, cur: Any) -> int: ...
    def first_local(self, cur: Any, enabled: list[int]) -> int | None: ...
    def footprint(self, cur: Any) -> Footprint | None: ...
    def final(self, cur: Any) -> Run: ...


class Found:
    """What the loop found, for the caller's report."""

    def __init__(self) -> None:
        self.states = self.executions = self.pruned = self.blocked_states = 0
        self.violating_runs = self.deadlocks = 0
        self.outcomes: set[tuple] = set()
        self.unmodelled: set[str] = set()
        self.complete = True
        #: node -> [(tid, child)] (cache on), the violations on arriving at a node
        self.edges: list[list[tuple[int, int]]] = []
        self.bad: dict[int, list[Violation]] = {}
        #: cache off: the shortest schedule to each invariant, as met
        self.shortest: dict[str, tuple[list[int], Violation]] = {}


def _outcome(run: Run) -> tuple:
    return tuple(run.results.get(t.tid, "stuck") for t in run.tasks)


def ordered(enabled: list[int], local: int | None, schedule: list[int]) -> list[int]:
    """The threads to run from a state, in the order to take them: a local step alone
    (``local``, the first enabled thread whose step is local: it commutes with
    everything), else the thread that just ran first (a replay then opens a whole run of
    new states instead of one), then the others."""
    if local is not None:
        return [local]
    if schedule and schedule[-1] in enabled and enabled[0] != schedule[-1]:
        last = schedule[-1]
        return [last] + [tid for tid in enabled if tid != last]
    return enabled


def asleep(candidates: dict[int, Footprint], mine: Footprint | None,
           tid: int) -> dict[int, Footprint]:
    """The sleep set after ``tid`` stepped with recorded footprint ``mine``: the candidates
    (threads with the footprint their pending step was recorded with) whose step commutes
    with it (an undeclared footprint, None, commutes with nothing)."""
    if mine is None or not candidates:
        return _AWAKE
    reads, writes = mine.reads, mine.writes  # independent(f, mine), inlined: the hot loop
    return {u: f for u, f in candidates.items()
            if u != tid and f.writes.isdisjoint(reads) and writes.isdisjoint(f.reads)}


class _Branch(NamedTuple):
    """A branch put aside: how to get there, the node it leaves, the sleep set at that node,
    and the node's siblings explored before it with the footprints their steps recorded
    (shared by the node's branches: each one adds its own once taken; the search is depth
    first, so a branch is resumed only after those before it have been taken)."""

    entry: Any
    parent: int | None
    tid: int
    sleep: dict[int, Footprint]
    before: tuple[int, ...]
    taken: dict[int, Footprint | None]


def search(space: Space, found: Found, *, cache: bool = True, sleep_sets: bool = True,
           local_first: bool = True, max_seconds: float | None = None,
           max_states: int | None = None, max_executions: int | None = None,
           progress: Callable[[int], None] | None = None) -> None:
    """Walk ``space`` depth first, into ``found``.

    Sleep sets use footprints *recorded* as the steps ran (:mod:`spfteach.model.record`), so
    the sleep set of a state is computed after the step that reaches it: its footprint is
    known then, and so are those of the siblings taken before it."""
    t0 = time.perf_counter()
    visited: dict[object, int] = {}
    edges, bad = found.edges, found.bad
    #: node -> the sleep set it was explored with: a later visit with a smaller one
    #: must still explore what that one left asleep
    slept: list[frozenset[int]] = []
    stack: list[_Branch | None] = [None]

    def new_node(parent: int | None, tid: int, sleep: dict[int, Footprint]) -> int:
        edges.append([])
        slept.append(frozenset(sleep))
        if parent is not None:
            edges[parent].append((tid, len(edges) - 1))
        return len(edges) - 1

    # the space's methods, looked up once (the loop runs once per step of the search)
    violations_of, key_of = space.violations, space.key
    enabled_of, first_local, advance, branch = space.enabled, space.first_local, \
        space.advance, space.branch
    footprint_of = space.footprint
    while stack:
        if (max_seconds is not None and time.perf_counter() - t0 > max_seconds) or \
                (max_states is not None and found.states >= max_states) or \
                (max_executions is not None and found.executions >= max_executions):
            found.complete = False
            break
        b = stack.pop()
        sleep: dict[int, Footprint]
        if b is None:
            cur, parent, sleep = space.start(), None, _AWAKE
        else:
            cur, parent = space.resume(b.entry), b.parent
            if sleep_sets:
                mine = b.taken[b.tid] = footprint_of(cur)
                taken = b.taken
                cands = b.sleep if not b.before else {
                    **b.sleep, **{u: taken[u] for u in b.before if taken[u] is not None}}
                sleep = asleep(cands, mine, b.tid)
            else:
                sleep = _AWAKE
        while True:
            sched = cur.schedule
            viols = violations_of(cur)
            if viols:
                found.violating_runs += 1
                found.deadlocks += any(v.invariant == "deadlock" for v in viols)
                if cache:
                    bad[new_node(parent, sched[-1] if sched else -1, _AWAKE)] = viols
                else:
                    found.executions += 1
                    for v in viols:
                        best = found.shortest.get(v.invariant)
                        if best is None or len(best[0]) > len(sched):
                            found.shortest[v.invariant] = (list(sched), v)
                break
            key = key_of(cur) if cache else None
            seen = visited.get(key) if cache else None
            if seen is not None:
                if parent is not None:
                    edges[parent].append((sched[-1], seen))
                # Explored before with sleep set H: what this visit must add is what
                # H left asleep and this visit's sleep set does not.
                wake = slept[seen] - sleep.keys() if sleep_sets else _NONE
                if not wake:
                    found.pruned += 1
                    break
                slept[seen] &= sleep.keys()
                node = seen
                enabled = enabled_of(cur)
                local = first_local(cur, enabled) if local_first else None
                choices = [t for t in ordered(enabled, local, sched) if t in wake]
                if not choices:
                    found.pruned += 1
                    break
            else:
                enabled = enabled_of(cur)
                if not enabled:
                    # a final state: its end judgement, if the space has not made it on
                    # arriving (a violation there makes this a violating arrival)
                    end = space.end_violations(cur)
                    if end:
                        found.violating_runs += 1
                        found.deadlocks += any(v.invariant == "deadlock" for v in end)
                        bad[new_node(parent, sched[-1] if sched else -1, _AWAKE)] = end
                        break
                node = -1
                if cache:
                    node = new_node(parent, sched[-1] if sched else -1, sleep)
                    visited[key] = node
                    found.states += 1
                    if progress is not None and found.states % PROGRESS_EVERY == 0:
                        progress(found.states)
                    if len(enabled) < space.alive(cur):
                        found.blocked_states += 1
                if not enabled:
                    run = space.final(cur)
                    found.executions += 1
                    found.outcomes.add(_outcome(run))
                    found.unmodelled.update(run.unmodelled)
                    break
                choices = ordered(enabled, first_local(cur, enabled) if local_first else None,
                                  sched)
                if sleep:
                    choices = [t for t in choices if t not in sleep]
                    if not choices:
                        # everything from here starts with a step explored elsewhere
                        found.pruned += 1
                        break
            taken: dict[int, Footprint | None] = {}
            for i in range(len(choices) - 1, 0, -1):
                t = choices[i]
                stack.append(_Branch(branch(cur, t), node, t, sleep, tuple(choices[:i]), taken))
            parent = node
            first = choices[0]
            cur = advance(cur, first)
            if sleep_sets:
                mine = taken[first] = footprint_of(cur)
                sleep = asleep(sleep, mine, first)
    found.executions += found.violating_runs if cache else 0


#: How often (in new states) a search reports its progress.
PROGRESS_EVERY = 100


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


class _Live:
    """Where the replaying search is: a live run, its state keys, and its schedule (the
    run's own list, which its steps extend)."""

    __slots__ = ("run", "keys", "schedule")

    def __init__(self, run: Run, keys: _Keys | None) -> None:
        self.run, self.keys, self.schedule = run, keys, run.schedule


class ReplaySpace:
    """States as live runs (``cur``: the run and its keys); a branch is the schedule
    that reaches it, replayed from the start when the search comes back to it."""

    def __init__(self, scen: Scenario, mutants: frozenset[Mutant], keys: bool = True) -> None:
        self.scen, self.mutants, self.keys = scen, mutants, keys
        self.transitions = 0
        self.first: Run | None = None

    def _run(self, prefix: list[int]) -> Run:
        run = self.scen.new_run(self.mutants, record=False).replay(prefix)
        self.transitions += len(prefix)
        if self.first is None:
            self.first = run
        return run

    def start(self) -> _Live:
        run = self._run([])
        return _Live(run, _Keys(run) if self.keys else None)

    def resume(self, entry: tuple[list[int], list[Hashed] | None]) -> _Live:
        prefix, at_parent = entry
        run = self._run(prefix)
        return _Live(run, _Keys(run, at_parent) if self.keys else None)

    def branch(self, cur: _Live, tid: int) -> tuple:
        keys = cur.keys
        return cur.schedule + [tid], list(keys.threads) if keys is not None else None

    def advance(self, cur: _Live, tid: int) -> _Live:
        cur.run.step(tid)
        if cur.keys is not None:
            cur.keys.stepped(tid)
        self.transitions += 1
        return cur

    def violations(self, cur: _Live) -> list[Violation]:
        return cur.run.violations  # the end judgement too: a live run makes it on arriving

    def end_violations(self, cur: _Live) -> list[Violation]:
        return []

    def key(self, cur: _Live) -> object:
        assert cur.keys is not None
        return cur.keys.key()

    def enabled(self, cur: _Live) -> list[int]:
        return cur.run.runnable()

    def alive(self, cur: _Live) -> int:
        return len(cur.run.alive())

    def first_local(self, cur: _Live, enabled: list[int]) -> int | None:
        ops = cur.run.pending
        for tid in enabled:
            if ops[tid].local:
                return tid
        return None

    def footprint(self, cur: _Live) -> Footprint | None:
        """What the step that reached ``cur`` read and wrote, as recorded."""
        return cur.run.last_footprint

    def final(self, cur: _Live) -> Run:
        return cur.run


class MemoSpace:
    """Abstract states (:mod:`.memo`); a live run is kept and taken forward, or
    replayed, only when the search needs one."""

    def __init__(self, scen: Scenario, mutants: frozenset[Mutant]) -> None:
        self.scen, self.mutants = scen, mutants
        self.memo = Memo()
        self.transitions = 0
        self.root = scen.new_run(mutants, record=False)
        self.first = self.root
        self.start_state = self.memo.state_of(self.root)
        self.memo.learn_enabled(self.start_state, self.root)
        self.live: Run | None = None  # a run in state ``live_at``
        self.live_at: State | None = None
        #: final states and the end judgement's violations (none: judged clean)
        self.end: dict[tuple, list[Violation]] = {}

    def materialize(self, s: State) -> Run:
        """A live run in ``s``: the live run taken on if ``s`` lies ahead of it on
        its way (the search got there through recorded steps), else the schedule
        replayed from the start."""
        if self.live_at is not s:
            live, at = self.live, self.live_at
            n = len(at.schedule) if at is not None else 0
            if live is not None and at is not None and n <= len(s.schedule) and \
                    s.schedule[:n] == at.schedule:
                live.replay(s.schedule[n:])
                self.transitions += len(s.schedule) - n
            else:
                self.live = self.scen.new_run(self.mutants, record=False).replay(s.schedule)
                self.transitions += len(s.schedule)
            self.live_at = s
        assert self.live is not None
        return self.live

    def _enabled_in(self, s: State) -> list[int]:
        memo = self.memo
        out = []
        for tid, t in enumerate(s.threads):
            if t.always:
                out.append(tid)
            elif not t.done:
                on = memo.is_enabled(s, tid)
                if on is None:
                    memo.learn_enabled(s, self.materialize(s))
                    return [u for u in range(len(s.threads)) if memo.is_enabled(s, u)]
                if on:
                    out.append(tid)
        return out

    def _take(self, s: State, tid: int) -> State:
        """The state ``tid``'s step leads to from ``s``, and the violations found on
        the way (the step's and, for a final state, the end judgement's)."""
        memo = self.memo
        e = memo.effect(s, tid)
        if e is not None:
            after = memo.apply(s, tid, e)  # the live run stays where it is, behind
            if e.violations and not self._enabled_in(after):
                # a violating last step is judged at the end too, as a live run does
                after.viols = list(self.materialize(after).violations)
            else:
                after.viols = memo.violations(after, e)
            return after
        run = self.materialize(s)
        after, e, end = memo.step(s, run, tid)
        self.transitions += 1
        self.live_at = after
        viols = memo.violations(after, e)
        if viols:
            after.viols = viols + end
        elif end:
            self.end[after.key()] = end
        return after

    def start(self) -> State:
        self.live, self.live_at = self.root, self.start_state
        return self.start_state

    def resume(self, entry: tuple[State, int]) -> State:
        return self._take(*entry)

    def branch(self, cur: State, tid: int) -> tuple[State, int]:
        return cur, tid

    def advance(self, cur: State, tid: int) -> State:
        return self._take(cur, tid)

    def violations(self, cur: State) -> list[Violation]:
        """Those met on arriving (a violating final state reached again is judged by
        :meth:`end_violations`: it is never a cached state)."""
        return cur.viols

    def end_violations(self, cur: State) -> list[Violation]:
        """A final state's end judgement, on a live run (``check_end`` reads everything),
        once per state."""
        key = cur.key()
        end = self.end.get(key)
        if end is None:
            end = self.end[key] = list(self.materialize(cur).violations)
        return end

    def key(self, cur: State) -> object:
        return cur.key()

    def enabled(self, cur: State) -> list[int]:
        return self._enabled_in(cur)

    def alive(self, cur: State) -> int:
        return sum(1 for t in cur.threads if not t.done)

    def first_local(self, cur: State, enabled: list[int]) -> int | None:
        threads = cur.threads
        for tid in enabled:
            if threads[tid].local:
                return tid
        return None

    def footprint(self, cur: State) -> Footprint | None:
        """What the step that reached ``cur`` read and wrote, as recorded when it ran."""
        return cur.fp

    def final(self, cur: State) -> Run:
        return self.materialize(cur)
