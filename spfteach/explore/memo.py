"""Memoized steps: run each distinct step once, look its effect up afterwards.

A declared footprint names everything a step reads.  So what the step does —
the objects it changes and to what, the violations it finds, where its thread
goes next — is a function of three things: the thread's own state (its frames
and locals, the thread key of :mod:`.statekey`), the footprint announced, and
the values of the objects read.  In a race most steps meet the same values over
and over: thread B's 12th step reads the same VMA whether thread A took 3
steps or 30 before it, unless A wrote it.  The explorer runs a step for real
the first time it meets a (thread key, footprint, values read) and, every time
after, applies the recorded effect to an *abstract* state: the values of the
shared objects (:meth:`Machine.objects`) and every thread's key.  Whether a
blocked step can run is, the same way, a function of those three.

A state reached through recorded effects has no live run behind it (threads
are generators, which cannot be copied).  When the search needs one — a step
met for the first time, a thread whose enabledness is not known, a final state
to judge (``check_end`` reads everything) — it replays the state's schedule,
as the plain search does for every branch.  That is what makes this fast: the
plain search replays once per edge to an explored state, this one once per
new kind of step.

Sound as long as footprints name every read: ``tests/model/test_footprints.py``
checks exactly that on every state of every scenario (a step met twice with the
same key, footprint and values must do the same thing both times), and the
explorer's tests check that this search visits the same states, edges and
counterexamples as the search that runs every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from ..model.footprint import Footprint, Obj, order
from ..sched import Run, Violation
from .statekey import thread_key

#: the value id of an object a state does not hold
MISSING = -1


class Thread(NamedTuple):
    """One thread in an abstract state: its key and its pending step."""

    key: int  # interned thread key (frames, locals, attributes; or its result)
    fp: int  # interned footprint of the pending step (-1: finished)
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

    def key(self) -> tuple:
        return (self.names_id, self.vals, tuple(t.key for t in self.threads))


class Effect(NamedTuple):
    """What a step did, recorded the first time it ran."""

    thread: Thread
    changes: tuple[tuple[Obj, int], ...]  # objects changed or created, new value ids
    removed: tuple[Obj, ...]
    violations: tuple[tuple[str, str], ...]  # found by the step itself


class Memo:
    """The interned values and the recorded effects of one exploration."""

    def __init__(self) -> None:
        self.values: dict[object, int] = {}
        self.thread_keys: dict[tuple, int] = {}
        self.fps: dict[Footprint | None, int] = {}
        self.fp_list: list[Footprint | None] = []
        self.names: dict[tuple[Obj, ...], int] = {}
        self.index: list[dict[Obj, int]] = []  # names id -> name -> position
        self.selectors: dict[tuple[int, int], tuple[int, tuple[int, ...]]] = {}
        self.effects: dict[tuple, Effect] = {}
        self.enabled: dict[tuple, bool] = {}
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
        return got

    def _fp(self, fp: Footprint | None) -> int:
        got = self.fps.get(fp)
        if got is None:
            got = self.fps[fp] = len(self.fp_list)
            self.fp_list.append(fp)
        return got

    def footprint(self, fp_id: int) -> Footprint | None:
        return self.fp_list[fp_id]

    def _thread(self, run: Run, tid: int) -> Thread:
        task = run.tasks[tid]
        if tid in run.results:
            k = thread_key(task, None, run.results[tid], True)
            return Thread(self._key(k), -1, False, True, True, task.would_have)
        op = run.pending[tid]
        k = thread_key(task, run._gens[tid], None, False)
        return Thread(self._key(k), self._fp(op.footprint), op.local, op.enabled is None,
                      False, task.would_have)

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

    def _read(self, s: State, fp_id: int) -> tuple:
        """What the step of footprint ``fp_id`` reads in ``s``: the ids of the
        values of the objects it reads (every object, if it declares nothing)."""
        sel = self.selectors.get((fp_id, s.names_id))
        if sel is None:
            sel = self._selector(fp_id, s)
        vals = s.vals
        return (sel[0], tuple([vals[p] if p >= 0 else MISSING for p in sel[1]]))

    def _selector(self, fp_id: int, s: State) -> tuple[int, tuple[int, ...]]:
        fp = self.fp_list[fp_id]
        index = self.index[s.names_id]
        chosen = s.names if fp is None else fp.reads_of(s.names)
        positions = tuple(index.get(o, -1) for o in chosen)
        sel = (self._names(chosen), positions)
        self.selectors[(fp_id, s.names_id)] = sel
        return sel

    def effect(self, s: State, tid: int) -> Effect | None:
        """The recorded effect of ``tid``'s step in ``s``, if it ran before."""
        t = s.threads[tid]
        e = self.effects.get((t.key, t.fp, self._read(s, t.fp)))
        if e is not None:
            self.hits += 1
        return e

    def is_enabled(self, s: State, tid: int) -> bool | None:
        """Can ``tid`` step in ``s``?  ``None``: not known (never met)."""
        t = s.threads[tid]
        if t.done:
            return False
        if t.always:
            return True
        return self.enabled.get((t.key, t.fp, self._read(s, t.fp)))

    def learn_enabled(self, s: State, run: Run) -> None:
        """Record, from a live run in state ``s``, which threads can step."""
        runnable = run.runnable()
        for tid, t in enumerate(s.threads):
            if not t.done and not t.always:
                self.enabled[(t.key, t.fp, self._read(s, t.fp))] = tid in runnable

    def apply(self, s: State, tid: int, e: Effect) -> State:
        """``s`` after ``tid``'s step of recorded effect ``e``."""
        threads = s.threads[:tid] + (e.thread,) + s.threads[tid + 1:]
        schedule = s.schedule + [tid]
        index = self.index[s.names_id]
        if e.removed or any(o not in index for o, _ in e.changes):
            current = dict(zip(s.names, s.vals, strict=True))
            for o in e.removed:
                current.pop(o, None)
            current.update(e.changes)
            names = tuple(sorted(current, key=order))
            return State(names, self._names(names), tuple(current[n] for n in names),
                         threads, schedule)
        vals = list(s.vals)
        for o, v in e.changes:
            vals[index[o]] = v
        return State(s.names, s.names_id, tuple(vals), threads, schedule)

    def step(self, s: State, run: Run, tid: int) -> tuple[State, Effect, list[Violation]]:
        """Run ``tid``'s step for real on ``run`` (live in state ``s``), record its
        effect, and return the state reached, the effect and the end judgement's
        violations (when no thread can move after it)."""
        t = s.threads[tid]
        read = self._read(s, t.fp)
        nv = len(run.violations)
        own = run.explore_step(tid)
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
                   removed, tuple((v.invariant, v.message) for v in viols[:own]))
        self.effects[(t.key, t.fp, read)] = e
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
