"""Check that the recorded footprints are whole: nothing a step touches escapes the recorder.

Footprints are recorded as the steps run (:mod:`spfteach.model.record`): every read and write
of a field declared ``state()``. A read or write that escapes the recorder — a container held
past the fields that record it, a value read through ``__dict__``, a field not declared — would
make the sleep sets and the memoized steps unsound, silently. This walks every state of a
scenario (the state cache alone, no reduction) and at each one:

* steps every enabled thread and compares :meth:`Machine.objects` before and after: every
  object that changed must be among the recorded writes (an object the step created counts
  as a write of ``ALLOC``);
* for every two enabled threads whose recorded footprints are independent, runs both orders
  and compares the whole state (shared objects, every thread's frames and locals, the
  violations found): they must be equal, and each step must still be enabled after the
  other. This catches a read that escaped: a step that read what the other wrote would have
  seen another value and differ;
* files what each step did under what it started from — the thread's key and the values of
  the objects it was recorded reading — and whether each pending step could run under what
  its wait was recorded reading: met again from the same, a step must do the same thing and
  be as enabled as before, and leave every other thread's state alone. This is what the
  memoizing search (:mod:`.memo`) relies on, and it catches a read that escaped where no
  concurrent write shows it (another thread changes the object only while this one cannot
  run).

A step that touched an object outside the kernel's (a lock with no footprint object: the
footprint is None) is counted, not checked: it conflicts with everything, so no reduction
relies on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..model import record
from ..model.checks import Mutant
from ..model.footprint import ALLOC, Footprint, Obj, independent, order
from ..scenarios.base import Scenario
from ..sched import Run, format_schedule
from .search import _mutants
from .statekey import thread_key


@dataclass
class FootprintReport:
    scenario: str
    states: int = 0
    steps_checked: int = 0
    pairs_checked: int = 0
    #: C statements whose steps touched an object outside the kernel's, with how often
    undeclared: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _thread_keys(run: Run) -> list[tuple]:
    return [thread_key(t, None if t.tid in run.results else run._gens[t.tid],
                       run.results.get(t.tid), t.tid in run.results) for t in run.tasks]


def _key(run: Run, threads: list[tuple] | None = None) -> tuple:
    """The whole state: shared, every thread's (``threads``, if already computed),
    and the violations found."""
    return (run.machine.state_key(), tuple(threads if threads is not None else _thread_keys(run)),
            tuple(sorted(v.invariant for v in run.violations)))


def _read(objs: dict[Obj, object], f: Footprint | None) -> tuple:
    """The values of what a step of recorded footprint ``f`` read (everything: ``None``)."""
    names = sorted(objs, key=order) if f is None else sorted(f.reads, key=order)
    return tuple((o, objs.get(o, _GONE)) for o in names)


def _wait_reads(run: Run, tid: int) -> tuple[bool, Footprint | None]:
    """Whether ``tid``'s pending step can run, and what its wait read to say so."""
    op = run.pending[tid]
    if op.waits_on is None:
        return True, Footprint.of()
    rec = record.Recorder()
    prev = record.start(rec)
    try:
        on = op.waits_on.ready()
    finally:
        record.start(prev)
    return on, rec.footprint()


def _changed(before: dict, after: dict) -> set:
    return {o for o in before.keys() | after.keys() if before.get(o, _GONE) != after.get(o, _GONE)}


#: the value of an object a state does not hold
_GONE = object()


def check(scen: Scenario, mutants: Iterable[str | Mutant] = (),
          max_states: int | None = None) -> FootprintReport:
    """Every reachable state of ``scen``: see the module's docstring."""
    muts, _ = _mutants(mutants)
    rep = FootprintReport(scen.name)
    seen: set = set()
    #: (thread key, values read) -> what the step did, where first seen
    did: dict[tuple, tuple[tuple, str]] = {}
    #: (thread key, values its wait read) -> enabled or not, where first seen
    could: dict[tuple, tuple[bool, str]] = {}
    stack: list[list[int]] = [[]]

    def replay(prefix: list[int]) -> Run:
        return scen.new_run(muts, record=False).replay(prefix)

    while stack:
        if max_states is not None and rep.states >= max_states:
            break
        prefix = stack.pop()
        run = replay(prefix)
        if run.violations:
            continue
        keys = _thread_keys(run)
        key = _key(run, keys)
        if key in seen:
            continue
        seen.add(key)
        rep.states += 1
        enabled = list(run.runnable())
        ops = {tid: run.pending[tid] for tid in enabled}
        where = format_schedule(prefix) or "(start)"
        here = run.machine.objects()
        for tid in run.pending:
            on, wf = _wait_reads(run, tid)
            seen_as = (keys[tid], _read(here, wf))
            first = could.setdefault(seen_as, (on, where))
            if first[0] != on:
                rep.problems.append(
                    f"{scen.name}: T{tid} at {run.pending[tid].src} is "
                    f"{'enabled' if on else 'blocked'} after {where} but was "
                    f"{'enabled' if first[0] else 'blocked'} after {first[1]}, in the same "
                    "state of its own with the same values read (its wait reads something "
                    "the recorder does not see)")
        fps: dict[int, Footprint | None] = {}
        for tid in enabled:
            op = ops[tid]
            r = replay(prefix) if tid != enabled[0] else run
            before = here
            nv = len(r.violations)
            own = r.explore_step(tid)
            rep.steps_checked += 1
            stack.append(prefix + [tid])
            fp = fps[tid] = r.last_footprint
            after = r.machine.objects()
            changed = _changed(before, after)
            keys_after = _thread_keys(r)
            moved = [u for u in range(len(keys)) if u != tid and keys[u] != keys_after[u]]
            if moved:
                rep.problems.append(
                    f"{scen.name}: T{tid} at {op.src} (after {where}) changed the state of "
                    f"thread(s) {moved} (a step may change only its own thread and shared "
                    "objects)")
            effect = (keys_after[tid], tuple((o, after.get(o, _GONE))
                                             for o in sorted(changed, key=order)),
                      tuple((v.invariant, v.message) for v in r.violations[nv:nv + own]))
            met = (keys[tid], _read(before, fp))
            first_did = did.setdefault(met, (effect, where))
            if first_did[0] != effect:
                rep.problems.append(
                    f"{scen.name}: T{tid} at {op.src} did one thing after {first_did[1]} and "
                    f"another after {where}, from the same state of its own with the same "
                    "values read (it reads something the recorder does not see)")
            if fp is None:
                name = f"{op.src.file}:{op.src.function}: {op.src.snippet}"
                rep.undeclared[name] = rep.undeclared.get(name, 0) + 1
                continue
            created = {o for o in changed if o not in before}
            stray = {o for o in changed if o not in fp.writes
                     and not (o in created and ALLOC in fp.writes)}
            if stray:
                rep.problems.append(
                    f"{scen.name}: T{tid} at {op.src} (after {where}) changed "
                    f"{sorted(map(str, stray))}, not among its recorded writes "
                    f"{sorted(map(str, fp.writes))}")
        for i, a in enumerate(enabled):
            for b in enabled[i + 1:]:
                if not independent(fps[a], fps[b]):
                    continue
                rep.pairs_checked += 1
                ab, ba = replay(prefix + [a]), replay(prefix + [b])
                if b not in ab.runnable() or a not in ba.runnable():
                    rep.problems.append(
                        f"{scen.name}: after {where}, T{a} at {ops[a].src} and T{b} at "
                        f"{ops[b].src} were recorded independent, but one disables "
                        "the other")
                    continue
                ab.step(b)
                ba.step(a)
                if _key(ab) != _key(ba):
                    rep.problems.append(
                        f"{scen.name}: after {where}, T{a} at {ops[a].src} and T{b} at "
                        f"{ops[b].src} were recorded independent, but the two orders "
                        "reach different states (a read or a write escaped the recorder)")
    return rep
