"""Each invariant can fire, where it becomes certain, and stays quiet on a correct run.

Small test programs break one invariant each (the model's own writers never do,
unmutated); a few use the model's real code under a mutant.
"""

from __future__ import annotations

import pytest

from spfteach import resources
from spfteach.explore.search import explore
from spfteach.model.invariants import INVARIANTS
from spfteach.model.locking import spin_lock
from spfteach.model.machine import Machine
from spfteach.model.madvise import madvise_dontneed
from spfteach.model.mm_types import VM_READ, VM_WRITE
from spfteach.model.mmap import rcu_read_lock
from spfteach.model.pgtable import NONE, Entry, Kind
from spfteach.model.smp import local_irq_disable
from spfteach.model.task import Src
from spfteach.scenarios import SCENARIOS
from spfteach.scenarios.base import Scenario, fault
from spfteach.sched import Run
from tests.paths import ROOT

HEAP = 0x7F0000000000
S = Src("tests", "prog", "x")


def _heap(k: Machine, flags: int = VM_READ | VM_WRITE) -> None:
    k.add_vma(HEAP, HEAP + 0x10000, flags)
    k.populate(HEAP)
    k.populate(HEAP + 0x5000)


def _pte_table(k: Machine):
    return k.table_for(HEAP, "pte", create=False)


def _violated(prog, setup=_heap) -> set[str]:
    k = Machine(ncpus=1)
    setup(k)
    t = k.add_task("prog")
    run = Run(k, [(t, prog(t))]).finish()
    return {v.invariant for v in run.violations}


def test_a_clean_program_breaks_nothing() -> None:
    def prog(t):
        yield t.at(S)
    assert _violated(prog) == set()


def test_irqs_left_off() -> None:
    def prog(t):
        yield from local_irq_disable(t, S)
    assert _violated(prog) == {"irqs-left-off"}


def test_lock_left_held() -> None:
    def prog(t):
        yield from spin_lock(t, t.machine.ptl[_pte_table(t.machine).id], S)
    assert _violated(prog) == {"lock-left-held"}


def test_rcu_unbalanced() -> None:
    def prog(t):
        yield from rcu_read_lock(t, S)
    assert _violated(prog) == {"rcu-unbalanced"}


def test_page_without_pte() -> None:
    """A PTE cleared without the page being uncounted (a zap that forgot
    page_remove_rmap())."""
    def prog(t):
        pt = _pte_table(t.machine)
        yield from spin_lock(t, t.machine.ptl[pt.id], S)
        yield t.at(S)
        t.machine.store(t, pt, 0, NONE)
        t.machine.ptl[pt.id].owner = None
    assert _violated(prog) == {"page-without-pte"}


def test_pte_to_freed_page() -> None:
    def prog(t):
        yield t.at(S)
        pfn = _pte_table(t.machine).get(0).target
        t.machine.free_page(t, pfn)  # judged here: a PTE still maps it
    assert "pte-to-freed-page" in _violated(prog)


def test_pte_overwritten() -> None:
    def prog(t):
        k = t.machine
        pt = _pte_table(k)
        yield from spin_lock(t, k.ptl[pt.id], S)
        yield t.at(S)
        other = pt.get(5)
        k.store(t, pt, 0, other)  # page 0's PTE now maps page 5's frame
        k.ptl[pt.id].owner = None
    assert "pte-overwritten" in _violated(prog)


def test_rmap() -> None:
    def prog(t):
        yield t.at(S)
        pfn = _pte_table(t.machine).get(0).target
        anon, index = t.machine.rmap[pfn]
        t.machine.rmap[pfn] = (anon, index + 1)
    assert _violated(prog) == {"rmap"}


def _lost(k: Machine):
    """A write fault in a read-only VMA with spf_write_access removed maps
    nothing and returns success; a second thread zaps an unrelated page."""
    _heap(k, VM_READ)
    t0 = k.add_task("fault")
    t1 = k.add_task("madvise")
    return [(t0, fault(t0, HEAP + 0x1000, write=True)),
            (t1, madvise_dontneed(t1, k.mm, HEAP + 0x5000, 0x1000))]


def test_lost_fault_is_judged_per_page() -> None:
    """A writer that touched another page is no excuse: the fault's own page was
    not touched, and it is not mapped."""
    scen = Scenario("lost", "", "", (), _lost)
    rep = explore(scen, ["spf_write_access"])
    assert "lost-fault" in rep.counterexamples
    assert "lost-fault" not in explore(scen).counterexamples


def test_wrong_sigsegv() -> None:
    """Judged at bad_area(): without the range check of lock_vma_under_rcu() the fault judges
    the old VMA, which the split left with the read-only tail, and refuses a legal write; the
    same race is clean under both designs."""
    split = SCENARIOS["fault-vs-split"]
    rep = explore(split.with_design("per-vma"), ["vma_lock_range"])
    assert set(rep.counterexamples) == {"wrong-sigsegv"}
    assert not explore(split.with_design("per-vma")).counterexamples


def test_every_invariant_is_reachable_somewhere() -> None:
    """No dead invariant: each one is broken by a test above or by a mutant of the
    catalogue (spfteach/data/mutants.json records which)."""

    recorded = resources.read_json("mutants.json")
    by_mutants = {inv for row in recorded["mutants"].values() for inv in row["invariants"]}
    by_mutants |= {row["pair_counterexample"]["invariant"]
                   for row in recorded["mutants"].values() if row.get("pair_counterexample")}
    here = {"irqs-left-off", "lock-left-held", "rcu-unbalanced", "page-without-pte",
            "pte-to-freed-page", "pte-overwritten", "rmap", "lost-fault", "wrong-sigsegv"}
    assert set(INVARIANTS) <= by_mutants | here, set(INVARIANTS) - by_mutants - here


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_unmutated_scenarios_are_clean(name: str) -> None:
    assert not explore(SCENARIOS[name]).counterexamples


def test_entry_kinds_in_set_ups_are_real() -> None:
    """A set-up maps only pages that exist: a huge pmd of a scenario points to a
    page the kernel counts (populate_huge), never to a made-up frame."""
    for scen in SCENARIOS.values():
        k = scen.new_run().machine
        for pt in k.pt_pages.values():
            for e in pt.entries.values():
                if e.kind in (Kind.PAGE, Kind.HUGE) and not e.special:
                    assert k.pages.get(e.target) == "mapped", (scen.name, e)
    assert Entry(Kind.PAGE, 1).with_(write=True).write


def test_invariants_py_alone_judges() -> None:
    """Model code announces what the kernel did (``k.event(t, "put_vma", vma)``) and never
    decides a verdict itself: ``violate(`` appears in no model file but ``invariants.py``
    (and its definition in ``machine.py``), every event announced has a judge there, and
    every judge is announced somewhere."""
    import re

    from spfteach.model.invariants import JUDGES

    announced: set[str] = set()
    for path in [*sorted((ROOT / "spfteach" / "model").glob("*.py")),
                 ROOT / "spfteach" / "grading" / "lockorder.py"]:
        text = path.read_text()
        announced |= set(re.findall(r"\.event\(\s*t,\s*\"([^\"]+)\"", text))
        if path.name == "invariants.py":
            continue
        calls = len(re.findall(r"\.violate\(", text))
        assert not calls, f"{path.name} judges by itself: {calls} violate() calls"
    assert announced - set(JUDGES) == set(), f"events with no judge: {announced - set(JUDGES)}"
    assert set(JUDGES) - announced == set(), f"judges nobody announces: {set(JUDGES) - announced}"
