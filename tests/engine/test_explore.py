"""The explorer: the catalogue is clean, the reduction is sound against brute
force, counterexamples are minimal and replay."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spfteach import resources
from spfteach.explore.mutants import matrix, names
from spfteach.explore.search import SEARCHES, explore, naive
from spfteach.scenarios import SCENARIOS, get
from spfteach.scenarios.base import Scenario
from spfteach.sched import parse_schedule
from tests import golden
from tests.small_scenarios import SMALL

SPFTEACH = str(Path(sys.executable).parent / "spfteach")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_unmutated_scenario_is_clean(name: str) -> None:
    rep = explore(get(name))
    assert rep.complete
    assert not rep.counterexamples, rep.as_dict()["counterexamples"]
    assert rep.deadlocks == 0 and rep.executions >= 1 and rep.outcomes
    assert not rep.unmodelled


@pytest.mark.parametrize("search", SEARCHES)
@pytest.mark.parametrize("mutant", [None, *names()])
def test_reduction_agrees_with_brute_force(mutant: str | None, search: str) -> None:
    """On small scenarios, with and without each mutant, every search (sleep sets
    over the state cache with memoized steps or running every step, and the
    state cache alone) reaches exactly the verdicts of enumerating every
    schedule: the same violated invariants, deadlock or not, the same final
    outcomes."""
    muts = [mutant] if mutant else []
    for scen in SMALL:
        reduced = explore(scen, muts, search=search)
        brute = naive(scen, muts, max_seconds=120)
        assert brute.complete, f"brute force did not finish on {scen.name}"
        assert reduced.verdict() == brute.verdict(), (scen.name, reduced.as_dict(),
                                                      brute.as_dict())
        assert reduced.executions <= brute.executions
        # counted on the state graph, the schedules are exactly those brute force ran
        assert explore(scen, muts, local_first=False, search="state-caching").schedules \
            == brute.executions
        # the counterexample the explorer reports is as short as the shortest any
        # schedule gives
        for inv, c in reduced.counterexamples.items():
            assert len(c.schedule) == len(brute.counterexamples[inv].schedule), (scen.name, inv)


def _recorded_catchers() -> dict[str, list[str]]:
    m = resources.read_json("mutants.json")
    return {k: v.get("caught_by") or v.get("pair_caught_by") or []
            for k, v in m["mutants"].items()}


def _same_search(a, b) -> tuple:
    """What the memoizing search must share with the sleep-set search it speeds up:
    it takes the same choices in the same order, so everything it counts on the
    state graph, and every counterexample, step for step."""
    def seen(r):
        return (r.states, r.pruned, r.executions, r.violating_runs, r.blocked_states,
                r.deadlocks, r.verdict(), sorted(r.unmodelled),
                {k: (c.schedule, c.message, c.removed) for k, c in r.counterexamples.items()})
    return seen(a), seen(b)


def _three_searches_agree(scen: Scenario, mutant: str) -> None:
    """The sleep-set search reaches the verdicts of the state cache alone, and the
    memoizing search finds exactly what the sleep-set search finds."""
    name = scen.name
    m = explore(scen, [mutant])
    a = explore(scen, [mutant], search="sleep-sets")
    b = explore(scen, [mutant], search="state-caching")
    assert m.complete and a.complete and b.complete
    mine, theirs = _same_search(m, a)
    assert mine == theirs, name
    assert m.transitions <= a.transitions, name
    assert a.verdict() == b.verdict(), (name, a.as_dict(), b.as_dict())
    assert a.transitions <= b.transitions, name
    for inv, c in a.counterexamples.items():  # as short as the state cache finds
        assert len(c.schedule) == len(b.counterexamples[inv].schedule), (name, inv)


@pytest.mark.parametrize("mutant", names())
def test_searches_agree_on_the_small_scenarios_under_every_mutant(mutant: str) -> None:
    """Under every mutant, on the small scenarios (tests/small_scenarios.py), the three
    searches agree (tests/model/test_footprints.py checks the footprints the reduction
    relies on)."""
    for scen in SMALL:
        _three_searches_agree(scen, mutant)


@pytest.mark.slow
@pytest.mark.parametrize("mutant", names())
def test_searches_agree_where_each_mutant_is_caught(mutant: str) -> None:
    """Under every mutant, on up to three two-thread scenarios of the catalogue that catch
    it (as recorded in spfteach/data/mutants.json) and on two that need not, the three searches
    agree: the state cache alone is the baseline, 17-31 times slower than the default."""
    two = {n for n, s in SCENARIOS.items() if len(s.threads) < 3}
    catchers = [n for n in _recorded_catchers().get(mutant, []) if n in two][:3]
    others = [n for n in ("quiet", "seq-odd-at-start", "fault-vs-mbind") if n not in catchers][:2]
    for name in catchers + others:
        _three_searches_agree(get(name), mutant)


THREE = [n for n, s in SCENARIOS.items() if len(s.threads) >= 3]
#: the cheapest three-thread race (4,901 states) by default, the others under ``slow``
CHEAPEST_THREE = "fault-vs-two-mprotects"


@pytest.mark.parametrize("name", [n if n == CHEAPEST_THREE else
                                  pytest.param(n, marks=pytest.mark.slow) for n in THREE])
def test_memo_agrees_with_the_sleep_sets_on_three_threads(name: str) -> None:
    """Unmutated, on every three-thread race (the sleep-set search takes 1-40 s on
    each), the memoizing search visits the same states and edges."""
    m, a = explore(get(name)), explore(get(name), search="sleep-sets")
    mine, theirs = _same_search(m, a)
    assert mine == theirs
    # it runs (replays included) a quarter of the steps or fewer: the rest are looked up
    assert m.cached_steps > 0 and 4 * m.transitions < a.transitions


@pytest.mark.parametrize("mutant", ["spf_get_vma_ref", "maplock_trylock",
                                    "maplock_vma_changed_locked", "spf_flags"])
def test_memo_agrees_on_three_threads_under_mutants(mutant: str) -> None:
    """Under mutants that the three-thread fault-vs-two-mprotects catches (the
    cheapest of them: 4,901 states), all three searches agree."""
    scen = get(CHEAPEST_THREE)
    m = explore(scen, [mutant])
    a = explore(scen, [mutant], search="sleep-sets")
    b = explore(scen, [mutant], search="state-caching")
    assert m.counterexamples, "the recorded matrix says this scenario catches it"
    mine, theirs = _same_search(m, a)
    assert mine == theirs
    assert a.verdict() == b.verdict()


def test_small_scenarios_are_not_trivial() -> None:
    """The soundness test means something only if the small scenarios have races
    the explorer must find: between them, unmutated and mutated, they violate
    several invariants, and brute force runs thousands of schedules.  (Deadlock
    detection is shown on ipi-vs-ptl below: a deadlock needs an IPI, which makes a
    writer too long for brute force.)"""
    found: set[str] = set()
    executions = 0
    for scen in SMALL:
        for m in ([], ["maplock_vma_changed_locked"], ["trylock_is_lock"]):
            rep = naive(scen, m, max_seconds=120)
            found |= rep.violated
            executions += rep.executions
    assert {"pte-rights", "pgtable-leak", "pte-outside-vma"} <= found
    assert executions > 1000


def _replays(scen: str, mutant: str, schedule: list[int], invariant: str) -> bool:
    run = get(scen).new_run([mutant])
    run.run_spec(schedule)
    return any(v.invariant == invariant and v.step == len(schedule) - 1 for v in run.violations)


@pytest.mark.parametrize("scen,mutant", [
    ("ipi-vs-ptl", "trylock_is_lock"),
    ("fault-vs-munmap", "irqs_on_walk"),
    ("fault-vs-thp-collapse", "maplock_pmd_same"),
    ("fault-vs-mprotect", "maplock_vma_changed_locked"),
    ("present-vs-munmap", "spinlock_vma_changed"),
    ("fault-vs-munmap", "hpf_vma_changed"),
])
def test_counterexample_is_minimal_and_replays(scen: str, mutant: str) -> None:
    rep = explore(get(scen), [mutant])
    assert rep.counterexamples
    for inv, c in rep.counterexamples.items():
        # it replays, breaking the invariant at its last step ...
        assert _replays(scen, mutant, c.schedule, inv)
        # ... and no prefix of it does (the violation needs every step)
        assert not _replays(scen, mutant, c.schedule[:-1], inv)


def test_counterexample_replays_in_spfteach_step() -> None:
    r = subprocess.run([SPFTEACH, "explore", "ipi-vs-ptl", "--mutant", "trylock_is_lock",
                        "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr  # 1: a violation was found
    c = json.loads(r.stdout)["counterexamples"]["deadlock"]
    assert parse_schedule(c["schedule"])
    r = subprocess.run([SPFTEACH, "step", "ipi-vs-ptl", "--schedule", c["schedule"],
                        "--mutant", "trylock_is_lock"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1, r.stderr
    assert "DEADLOCK" in r.stdout and "VIOLATION deadlock" in r.stdout


def test_mutants_json_shape() -> None:
    m = matrix(["trylock_is_lock"], ["ipi-vs-ptl", "quiet"], jobs=1).as_json()
    assert m["mutants"]["trylock_is_lock"]["caught_by"] == ["ipi-vs-ptl"]
    for s in ("ipi-vs-ptl", "quiet"):
        assert {"executions", "violations", "seconds"} <= set(m["scenarios"][s])
        assert m["scenarios"][s]["violations"] == 0


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the whole matrix: 38 mutants and 7 pairs over 34 scenarios
def test_every_mutant_is_caught_or_explained() -> None:
    """The workbook's claim, checked whole: every scenario is clean unmutated; every
    mutant is caught alone by some scenario, except those the registry pairs with
    others — then nothing catches it alone, the pair is caught, and in a scenario
    that catches the pair some violating run passes a point where the check would
    have stopped it (so it does something once they are gone);
    spfteach/data/mutants.json, which `spfteach checks` shows, says the same."""
    from spfteach.model import checks

    m = matrix().as_json()
    assert all(s["violations"] == 0 for s in m["scenarios"].values()), m["scenarios"]
    for name, row in m["mutants"].items():
        check = checks.BY_NAME.get(name)
        if check is not None and check.pair:
            assert check.note, f"{name}: a pair needs a note saying why"
            assert not row["caught_by"], f"{name}: the registry says nothing catches it alone"
            assert row["pair_caught_by"], f"{name} with {check.pair}: not caught"
            ce = row["pair_counterexample"]
            assert ce["scenario"] in row["pair_caught_by"]
            # the run that breaks the invariant passed a point where this check
            # would have stopped it (the matrix counts only such runs)
            assert name in ce["would_have_stopped_it"], ce
        else:
            assert row["caught_by"], f"mutant {name} is caught by no scenario"
    assert {c.name for c in checks.CHECKS if c.kind == "scope"} & set(m["mutants"]) == set()
    # the verdicts and counterexamples recorded before the rebuild of issue 24 (tests/golden.py)
    assert golden.matrix_view(m) == golden.load()["matrix"]
    recorded = resources.read_json("mutants.json")
    keys = ("caught_by", "pair_caught_by")
    assert {k: [v.get(x) for x in keys] for k, v in recorded["mutants"].items()} == \
        {k: [v.get(x) for x in keys] for k, v in m["mutants"].items()}, \
        "stale spfteach/data/mutants.json: make bench"


def _keys_every_step(name: str, schedule: list[int]) -> tuple:
    """The state key after ``schedule``, with the thread keys looked at after every step
    (as the explorer's first run does) rather than once at the end (as after a replay)."""
    from spfteach.explore.dfs import _Keys
    run = get(name).new_run(record=False)
    keys = _Keys(run)
    for tid in schedule:
        run.step(tid)
        keys.stepped(tid)
    return keys.key()


@pytest.mark.parametrize("name", ["fault-vs-munmap", "fault-vs-anon-vma", "fault-vs-mremap"])
def test_state_key_does_not_depend_on_when_it_was_looked_at(name: str) -> None:
    """A state's key is a function of the state: the same schedule gives the same key
    whether the thread frames were fingerprinted at every step or only at the end.
    (f_locals keeps variables in the order it first saw them, which once made keys of
    one state differ by path, so the cache missed states it had seen.)"""
    from spfteach.explore.dfs import _Keys
    scen = get(name)
    for first in range(len(scen.new_run(record=False).tasks)):
        run = scen.new_run(record=False)
        while run.runnable():
            run.step(first if first in run.runnable() else run.runnable()[0])
        fresh = scen.new_run(record=False).replay(run.schedule)
        for cut in range(1, len(run.schedule) + 1, 3):
            prefix = run.schedule[:cut]
            once = _Keys(scen.new_run(record=False).replay(prefix)).key()
            assert _keys_every_step(name, prefix) == once, (name, first, cut)
        assert _Keys(fresh).key() == _keys_every_step(name, run.schedule)


@pytest.mark.parametrize("mutant", [None, "hpf_vma_changed", "spf_put_vma", "irqs_on_walk"])
def test_replay_is_step_without_the_checks(mutant: str | None) -> None:
    """Run.replay (the explorer's fast path) leaves a run exactly as step() does:
    the same shared state, results, violations (at the same steps) and end verdict
    (spf_put_vma is judged at the end: a VMA leak)."""
    muts = [mutant] if mutant else []
    scen = get("fault-vs-munmap")
    rep = explore(scen, muts)
    schedules = [c.schedule for c in rep.counterexamples.values()]
    run = scen.new_run(muts, record=False)
    run.finish()
    schedules.append(run.schedule)
    for sched in schedules:
        stepped = scen.new_run(muts, record=False).run_spec(sched)
        replayed = scen.new_run(muts, record=False).replay(sched)
        assert replayed.machine.state_key() == stepped.machine.state_key()
        assert replayed.results == stepped.results and replayed.ended == stepped.ended
        assert replayed.violations == stepped.violations
    assert mutant is None or any(schedules[:-1]), "the mutant should give a counterexample"


def test_a_pair_counts_only_runs_the_check_would_have_stopped() -> None:
    """spf_pud_trans_huge is dead code on x86: with spf_pud removed alone nothing
    breaks under a 1 GiB page (spf_pud_trans_huge refuses it), with both removed the
    walk oopses, in a run where spf_pud_trans_huge would have fired."""
    scen = get("alone-huge-pud")
    assert not explore(scen, ["spf_pud"]).counterexamples
    both = explore(scen, ["spf_pud_trans_huge", "spf_pud"], every=True)
    assert any("spf_pud_trans_huge" in c.removed for c in both.every_violation)
    # in a scenario where the pair breaks only because spf_pud is gone, it does not count
    empty = explore(get("alone-empty-pud"), ["spf_pud_trans_huge", "spf_pud"], every=True)
    assert empty.every_violation
    assert not any("spf_pud_trans_huge" in c.removed for c in empty.every_violation)
