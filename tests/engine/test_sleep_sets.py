"""The sleep-set search: footprints conflict when they should, commuting steps
are not interleaved both ways, and every state is still visited."""

from __future__ import annotations

from spfteach.explore.search import explore, naive
from spfteach.model import footprint as fp
from spfteach.model.footprint import EMPTY, Footprint, independent
from spfteach.model.task import Src
from spfteach.scenarios.base import Scenario
from spfteach.scenarios.catalogue import base_map

S = Src("tests", "writer", "x")


def test_conflicts() -> None:
    r_vma = Footprint.of(reads=[("vma", 0)])
    w_vma = Footprint.of(writes=[("vma", 0)])
    w_vma1 = Footprint.of(writes=[("vma", 1)])
    assert not r_vma.conflicts(r_vma)  # two reads commute
    assert r_vma.conflicts(w_vma) and w_vma.conflicts(r_vma)
    assert w_vma.conflicts(w_vma)
    assert not w_vma.conflicts(w_vma1)
    assert not independent(None, EMPTY) and not independent(EMPTY, None)
    assert independent(EMPTY, w_vma)


def _counter(t, obj, n: int):
    """``n`` steps that write ``obj``: on the shared writes log each appends the thread's id
    (so the order shows), on the thread's own CPU it turns IRQs on (they are on)."""
    k = t.machine
    for _ in range(n):
        yield t.at(S)
        if obj == fp.WRITES:
            k.writes.append((t.tid, t.tid))
        else:
            k.cpus[obj[1]].irqs_on = True
        t.did("steps")


def _build(shared: bool):
    def build(k):
        base_map(k)
        a, b = k.add_task("a"), k.add_task("b")
        # private objects: the threads' own CPUs; shared: the writes log
        oa = fp.WRITES if shared else fp.cpu(a.cpu)
        ob = fp.WRITES if shared else fp.cpu(b.cpu)
        return [(a, _counter(a, oa, 3)), (b, _counter(b, ob, 3))]
    return build


def test_commuting_steps_are_not_interleaved_both_ways() -> None:
    """Two threads of three steps on objects of their own: brute force runs all
    20 interleavings; the state cache visits the 16 states (42 steps, replays
    included); sleep sets visit the same 16 in 18 steps, with the same verdicts.
    Memoized, each thread's three steps run once: the other thread's steps change
    nothing they read, so 6 steps run, none is replayed, and the other 9 edges of
    the graph are looked up."""
    scen = Scenario("indep", "", "", (), _build(shared=False), threads=("a", "b"))
    brute = naive(scen)
    cache = explore(scen, search="state-caching")
    sleep = explore(scen, search="sleep-sets")
    memo = explore(scen)
    assert brute.executions == 20
    assert sleep.states == cache.states == memo.states == 16
    assert sleep.verdict() == cache.verdict() == brute.verdict() == memo.verdict()
    assert (sleep.transitions, cache.transitions) == (18, 42)
    assert sleep.pruned < cache.pruned
    assert memo.pruned == sleep.pruned
    assert (memo.transitions, memo.cached_steps) == (6, 9)


def test_conflicting_steps_are_interleaved_both_ways() -> None:
    """The same threads appending to one shared log: every order gives another
    log, so nothing commutes and sleep sets change nothing."""
    scen = Scenario("dep", "", "", (), _build(shared=True), threads=("a", "b"))
    cache = explore(scen, search="state-caching")
    sleep = explore(scen, search="sleep-sets")
    memo = explore(scen)
    assert sleep.states == cache.states == memo.states
    assert sleep.transitions == cache.transitions
    assert sleep.verdict() == cache.verdict() == memo.verdict()
