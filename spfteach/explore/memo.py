"""Memoized steps: run each distinct step once, look its effect up afterwards.

A step's footprint is recorded as it runs (:mod:`spfteach.model.record`): every shared object it
read. So what the step does — the objects it changes and to what, the violations it finds,
where its thread goes next — is a function of two things: the thread's own state (its frames and
locals, the thread key of :mod:`.statekey`) and the values of the objects it read. In a race most
steps meet the same values over and over: thread B's 12th step reads the same VMA whether thread
A took 3 steps or 30 before it, unless A wrote it. The explorer runs a step for real the first
time it meets a thread key and, every time after, looks for an earlier run of it that read, in
this state, the values it read then (which objects a step reads can depend on the values it
meets, so a thread key may have several); found, it applies the recorded effect to an
*abstract* state: the values of the shared objects (:meth:`Machine.objects`) and every thread's
key. Whether a blocked step can run is filed the same way, under what its wait read.

A state reached through recorded effects has no live run behind it (threads are generators,
which cannot be copied). When the search needs one — a step met for the first time, a thread
whose enabledness is not known, a final state to judge (``check_end`` reads everything) — it
replays the state's schedule, as the plain search does for every branch. That is what makes this
fast: the plain search replays once per edge to an explored state, this one once per new kind
of step.

Sound as long as the recorder sees every read: ``tests/model/test_footprints.py`` checks that on
every state of every scenario (a step met twice with the same key and values read must do the
same thing both times), and the explorer's tests check that this search visits the same states,
edges and counterexamples as the search that runs every step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import NamedTuple

from ..model import record
from ..model.footprint import Footprint, Obj, order
from ..sched import Run, Violation
from .statekey import thread_key

#: the value id of an object a state does not hold
MISSING = -1


class Thread(NamedTuple):
    """One thread in an abstract state: its key and its pending step."""

    key: int  # interned thread key (frames, locals, attributes; or its result)
    local: bool
    always: bool  # the pending step has no enabled() test: it can always run
    done: bool
    would_have: tuple[str, ...]


@dataclass(slots=True)
class State:
    """The shared objects' values (ids, in the order of ``names``) and the threads."""

    names: tuple[Obj, ...]
    names_id: int
    vals: tuple[int, ...]
    threads: tuple[Thread, ...]
    schedule: list[int]
    #: the violations met on arriving here (the search's, :mod:`.dfs`)
    viols: list[Violation] = field(default_factory=list)
    #: what the step that reached this state read and wrote, as recorded when it ran
    fp: Footprint | None = None

    def key(self) -> tuple:
        return (self.names_id, self.vals, tuple(t.key for t in self.threads))


class Effect(NamedTuple):
    """What a step did, recorded the first time it ran."""

    thread: Thread
    changes: tuple[tuple[Obj, int], ...]  # objects changed or created, new value ids
    removed: tuple[Obj, ...]
    violations: tuple[tuple[str, str], ...]  # found by the step itself
    fp: Footprint | None  # what it read and wrote, as recorded


class Memo:
    """The interned values and the recorded effects of one exploration.

    An effect is filed under the thread's key, then the objects the step read (as recorded:
    which ones depends on the values met, so one thread key may have several), then the
    values of those objects; a lookup tries each set of objects recorded for the thread key.
    Whether a blocked step can run is filed the same way, under what its wait read."""

    def __init__(self) -> None:
        self.values: dict[object, int] = {}
        self.thread_keys: dict[tuple, int] = {}
        self.names: dict[tuple[Obj, ...], int] = {}
        self.index: list[dict[Obj, int]] = []  # names id -> name -> position
        self.name_list: list[tuple[Obj, ...]] = []  # names id -> names
        self.selectors: dict[tuple[int, int], Callable[[tuple], tuple]] = {}
        #: thread key -> objects read (names id) -> their value ids -> effect
        self.effects: dict[int, dict[int, dict[tuple, Effect]]] = {}
        #: the same for whether a pending step can run
        self.enabled: dict[int, dict[int, dict[tuple, bool]]] = {}
        self.hits = 0

    # --- interning -------------------------------------------------------------

    def _value(self, v: object) -> int:
        got = self.values.get(v)
        if got is None:
            got = self.values[v] = len(self.values)
        return got

    def _names(self, names: tuple[Obj, ...]) -> int:
        got = self.names.get(names)
        if got is None:
            got = self.names[names] = len(self.index)
            self.index.append({n: i for i, n in enumerate(names)})
            self.name_list.append(names)
        return got

    def _thread(self, run: Run, tid: int) -> Thread:
        task = run.tasks[tid]
        if tid in run.results:
            k = thread_key(task, None, run.results[tid], True)
            return Thread(self._key(k), False, False, True, task.would_have)
        op = run.pending[tid]
        k = thread_key(task, run._gens[tid], None, False)
        return Thread(self._key(k), op.local, op.waits_on is None, False, task.would_have)

    def _key(self, k: tuple) -> int:
        got = self.thread_keys.get(k)
        if got is None:
            got = self.thread_keys[k] = len(self.thread_keys)
        return got

    # --- states ------------------------------------------------------------------

    def state_of(self, run: Run) -> State:
        """The abstract state of a live run (its start)."""
        objs = run.machine.objects()
        names = tuple(sorted(objs, key=order))
        return State(names, self._names(names), tuple(self._value(objs[n]) for n in names),
                     tuple(self._thread(run, t.tid) for t in run.tasks), list(run.schedule))

    def _vals(self, s: State, reads_id: int) -> tuple:
        """The value ids in ``s`` of the objects ``reads_id`` names (MISSING: not in ``s``)."""
        sel = self.selectors.get((reads_id, s.names_id))
        if sel is None:
            sel = self._selector(reads_id, s)
        return sel(s.vals)

    def _selector(self, reads_id: int, s: State) -> Callable[[tuple], tuple]:
        """A function picking, from the values of a state with ``s``'s names, those of the
        objects ``reads_id`` names (a C-speed ``itemgetter`` when ``s`` holds them all)."""
        index = self.index[s.names_id]
        pos = tuple(index.get(o, -1) for o in self.name_list[reads_id])
        sel: Callable[[tuple], tuple]
        if -1 in pos:
            def sel(vals: tuple) -> tuple:
                return tuple([vals[p] if p >= 0 else MISSING for p in pos])
        elif len(pos) == 1:
            p0 = pos[0]

            def sel(vals: tuple) -> tuple:
                return (vals[p0],)
        elif pos:
            sel = itemgetter(*pos)
        else:
            def sel(vals: tuple) -> tuple:
                return ()
        self.selectors[(reads_id, s.names_id)] = sel
        return sel

    def _reads_id(self, s: State, fp: Footprint | None) -> int:
        """The interned tuple of objects a step of recorded footprint ``fp`` read (every
        object of ``s``: None, it may have read anything)."""
        return self._names(s.names if fp is None else tuple(sorted(fp.reads, key=order)))

    def _lookup(self, table: dict[int, dict[int, dict[tuple, object]]], s: State,
                key: int) -> object:
        by_reads = table.get(key)
        if by_reads is None:
            return None
        sels, nid, vals = self.selectors, s.names_id, s.vals
        for rid, by_vals in by_reads.items():
            sel = sels.get((rid, nid))
            if sel is None:
                sel = self._selector(rid, s)
            got = by_vals.get(sel(vals))
            if got is not None:
                return got
        return None

    def effect(self, s: State, tid: int) -> Effect | None:
        """The recorded effect of ``tid``'s step in ``s``, if it ran before on the same
        values."""
        e = self._lookup(self.effects, s, s.threads[tid].key)  # type: ignore[arg-type]
        if e is not None:
            self.hits += 1
        return e  # type: ignore[return-value]

    def is_enabled(self, s: State, tid: int) -> bool | None:
        """Can ``tid`` step in ``s``?  ``None``: not known (never met)."""
        t = s.threads[tid]
        if t.always:
            return True
        if t.done:
            return False
        return self._lookup(self.enabled, s, t.key)  # type: ignore[arg-type,return-value]

    def learn_enabled(self, s: State, run: Run) -> None:
        """Record, from a live run in state ``s``, which threads can step (and what each
        one's wait read to decide it)."""
        for tid, t in enumerate(s.threads):
            if t.done or t.always:
                continue
            rec = record.Recorder()
            prev = record.start(rec)
            try:
                on = run.pending[tid].waits_on.ready()  # type: ignore[union-attr]
            finally:
                record.start(prev)
            rid = self._reads_id(s, rec.footprint())
            self.enabled.setdefault(t.key, {}).setdefault(rid, {})[self._vals(s, rid)] = on

    def apply(self, s: State, tid: int, e: Effect) -> State:
        """``s`` after ``tid``'s step of recorded effect ``e``."""
        threads = s.threads[:tid] + (e.thread,) + s.threads[tid + 1:]
        schedule = s.schedule + [tid]
        fp = e.fp
        index = self.index[s.names_id]
        if e.removed or any(o not in index for o, _ in e.changes):
            current = dict(zip(s.names, s.vals, strict=True))
            for o in e.removed:
                current.pop(o, None)
            current.update(e.changes)
            names = tuple(sorted(current, key=order))
            return State(names, self._names(names), tuple(current[n] for n in names),
                         threads, schedule, fp=fp)
        vals = list(s.vals)
        for o, v in e.changes:
            vals[index[o]] = v
        return State(s.names, s.names_id, tuple(vals), threads, schedule, fp=fp)

    def step(self, s: State, run: Run, tid: int) -> tuple[State, Effect, list[Violation]]:
        """Run ``tid``'s step for real on ``run`` (live in state ``s``), record its
        effect, and return the state reached, the effect and the end judgement's
        violations (when no thread can move after it)."""
        t = s.threads[tid]
        nv = len(run.violations)
        own = run.explore_step(tid)
        fp = run.last_footprint
        objs = run.machine.objects()
        index = self.index[s.names_id]
        changes = []
        for o, v in objs.items():
            vid = self._value(v)
            i = index.get(o)
            if i is None or s.vals[i] != vid:
                changes.append((o, vid))
        removed = tuple(o for o in s.names if o not in objs)
        viols = run.violations[nv:]
        e = Effect(self._thread(run, tid), tuple(sorted(changes, key=lambda c: order(c[0]))),
                   removed, tuple((v.invariant, v.message) for v in viols[:own]), fp)
        rid = self._reads_id(s, fp)
        self.effects.setdefault(t.key, {}).setdefault(rid, {})[self._vals(s, rid)] = e
        after = self.apply(s, tid, e)
        self.learn_enabled(after, run)
        return after, e, viols[own:]

    def violations(self, s: State, e: Effect) -> list[Violation]:
        """The violations a recorded step found, as a live run records them."""
        if not e.violations:
            return []
        removed = tuple(sorted({n for t in s.threads for n in t.would_have}))
        sched = tuple(s.schedule)
        return [Violation(inv, msg, len(sched) - 1, sched, removed)
                for inv, msg in e.violations]
