"""Every check of the speculative path is reachable, and takes its own exit.

For each registered check a set-up makes the speculative path take exactly that
exit (abort, SIGSEGV, a branch, or success), and the check is the *first* one
that fired.  After an abort the fault falls back to the classic path, whose
final page tables must equal what the classic path alone produces from the same
set-up.  Checks that need a race use a second thread with a fixed schedule.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from spfteach.model import checks as registry
from spfteach.model.fault import X86_PF_USER, do_user_addr_fault
from spfteach.model.locking import spin_lock, spin_unlock
from spfteach.model.machine import Machine
from spfteach.model.mm_types import (
    MPOL_INTERLEAVE,
    VM_FAULT_RETRY,
    VM_FAULT_SIGSEGV,
    VM_GROWSDOWN,
    VM_READ,
    VM_UFFD_MISSING,
    VM_WRITE,
)
from spfteach.model.mmap import do_munmap
from spfteach.model.mprotect import do_mprotect
from spfteach.model.pgtable import Entry, Kind
from spfteach.model.task import Src
from spfteach.scenarios.base import mmu_error_code
from spfteach.sched import Run

HEAP = 0x7F0000000000
LEN = 0x10000
A = HEAP + 0x1000  # the faulting address: page 1 of the heap
RW = VM_READ | VM_WRITE


def heap(k: Machine, flags: int = RW, populate: bool = True, **kw) -> None:
    k.add_vma(HEAP, HEAP + LEN, flags, **kw)
    if populate:
        k.populate(HEAP)


Setup = Callable[[Machine], None]


def run_fault(setup: Setup, addr: int = A, write: bool = True, speculative: bool = True,
              la57: bool = False, other=None, schedule: str = "0*",
              error_code: int | None = None) -> tuple[Run, int]:
    """Set up, start one fault (and optionally a second thread), run the schedule.
    The error code is the MMU's for the set-up, unless given."""
    k = Machine(ncpus=2, la57=la57)
    setup(k)
    t0 = k.add_task("fault")
    code = _code(k, write, addr) if error_code is None else error_code
    progs = [(t0, do_user_addr_fault(t0, k.mm, addr, code, speculative))]
    if other is not None:
        t1 = k.add_task("other")
        progs.append((t1, other(t1)))
    run = Run(k, progs)
    run.run_spec(schedule)
    run.finish()
    assert run.finished, "threads left"
    assert not run.machine.violations, run.machine.violations
    return run, t0.tid


def first_fired(run: Run, name: str) -> str:
    """The first check that fired, passing over branch checks other than ``name``
    (a fresh-page fault always takes the spf_pte_none branch on its way)."""
    t = run.task(0)
    for c in t.checks_taken:
        if c == name or registry.get(c).exit != "branch":
            return c
    return "none"


def assert_fallback_matches_classic(setup: Setup, run: Run, **kw) -> None:
    """The classic path alone, from the same set-up, gives the same page tables."""
    kw = {k: v for k, v in kw.items() if k in ("addr", "write", "la57", "error_code")}
    classic, _ = run_fault(setup, speculative=False, **kw)
    assert run.machine.page_tables() == classic.machine.page_tables()
    assert run.results[0] == classic.results[0]


# --- single-thread set-ups: (check, setup, fault kwargs, expected spf result) ------------

SINGLE: dict[str, tuple[Setup, dict, int]] = {
    # No VMA at or above the address at all.
    "spf_no_vma": (lambda k: heap(k), {"addr": 0x7FF000000000}, VM_FAULT_RETRY),
    "spf_vm_ops": (lambda k: heap(k, vm_ops="ext4_file_vm_ops"), {}, VM_FAULT_RETRY),
    "spf_no_anon_vma": (lambda k: heap(k, anon_vma=False, populate=False), {}, VM_FAULT_RETRY),
    "spf_uffd_missing": (lambda k: heap(k, RW | VM_UFFD_MISSING), {}, VM_FAULT_RETRY),
    "spf_grows": (lambda k: heap(k, RW | VM_GROWSDOWN), {}, VM_FAULT_RETRY),
    "spf_arch_access": (lambda k: (heap(k), setattr(k, "pkru_denied", frozenset({5})),
                                   setattr(k.mm.mmap[0], "vm_pkey", 5)), {}, VM_FAULT_SIGSEGV),
    "spf_write_access": (lambda k: heap(k, VM_READ), {"write": True}, VM_FAULT_SIGSEGV),
    "spf_read_access": (lambda k: heap(k, 0, populate=False), {"write": False}, VM_FAULT_SIGSEGV),
    # Any policy of the VMA's own, then the task's interleave policy.
    "spf_vma_policy": (lambda k: heap(k, policy=MPOL_INTERLEAVE), {}, VM_FAULT_RETRY),
    "spf_mpol_interleave": (lambda k: (heap(k), setattr(k.mm, "task_policy", MPOL_INTERLEAVE)),
                            {}, VM_FAULT_RETRY),
    # Five-level paging: an empty pgd entry (with 4 levels pgd_none() is constant 0).
    "spf_pgd": (lambda k: heap(k, populate=False), {"la57": True}, VM_FAULT_RETRY),
    # Four-level paging: the same empty top-level entry is seen at the p4d step.
    "spf_p4d": (lambda k: heap(k, populate=False), {}, VM_FAULT_RETRY),
    # A page mapped in another 1 GiB region builds pgd and p4d, but not our pud entry.
    "spf_pud": (lambda k: (heap(k, populate=False), k.add_vma(HEAP + 0x40000000,
                                                              HEAP + 0x40010000, RW),
                           k.populate(HEAP + 0x40000000)), {}, VM_FAULT_RETRY),
    "spf_pmd_devmap": (lambda k: (heap(k, populate=False),
                                  k.set_entry(A, "pmd", Entry(Kind.DEVMAP, 0x800, write=True))),
                       {}, VM_FAULT_RETRY),
    # Another 2 MiB region of the same 1 GiB: pud exists, our pmd entry is empty.
    "spf_pmd_none": (lambda k: (heap(k, populate=False), k.add_vma(HEAP + 0x200000,
                                                                   HEAP + 0x210000, RW),
                                k.populate(HEAP + 0x200000)), {}, VM_FAULT_RETRY),
    "spf_pmd_trans_huge": (lambda k: (heap(k, populate=False),
                                      k.populate_huge(A, "pmd")),
                           {}, VM_FAULT_RETRY),
    "spf_pmd_swap": (lambda k: (heap(k, populate=False),
                                k.set_entry(A, "pmd", Entry(Kind.SWAP, 7))), {}, VM_FAULT_RETRY),
    # The success exits: a fresh page (pte none) ...
    "spf_pte_none": (lambda k: heap(k), {}, 0),
    # A write to the zero page mapped by an earlier read: copy-on-write.
    "hpf_no_wp": (lambda k: (heap(k), k.set_entry(A, "pte", Entry(Kind.PAGE, 0, write=False,
                                                                   special=True))),
                  {"write": True}, VM_FAULT_RETRY),
    # ... a read fault on the zero page: the zero-page branch skips userfaultfd.
    "anon_uffd_zero": (lambda k: heap(k), {"write": False}, 0),
    # ... and a write fault's new page does too.
    "anon_uffd": (lambda k: heap(k), {"write": True}, 0),
}



@pytest.mark.parametrize("name", sorted(SINGLE))
def test_single_thread_exit(name: str) -> None:
    setup, kw, expected = SINGLE[name]
    run, tid = run_fault(setup, other=None, **kw)
    t = run.task(tid)
    assert t.spf_result == expected
    assert first_fired(run, name) == name, t.checks_taken
    if expected != 0:
        assert_fallback_matches_classic(setup, run, **kw)


# --- checks that need a second thread ----------------------------------------------


def _steps_until(setup: Setup, snippet: str, write: bool = True, function: str = "") -> int:
    """How many steps the fault thread takes, alone, before it executes ``snippet``
    (in ``function``, when given)."""
    k = Machine(ncpus=2)
    setup(k)
    t0 = k.add_task("fault")
    run = Run(k, [(t0, do_user_addr_fault(t0, k.mm, A, _code(k, write)))])
    while not run.finished:
        op = run.next_op(0)
        assert op is not None
        if snippet in op.src.snippet and (not function or op.src.function == function):
            return len(run.trace)
        run.step(0)
    raise AssertionError(f"{snippet!r} never executed")


def munmap_heap(t):
    return do_munmap(t, t.machine.mm, HEAP, LEN)


def mprotect_ro(t):
    return do_mprotect(t, t.machine.mm, HEAP, LEN, VM_READ)


def mprotect_tail(t):
    """Split the heap at its middle: the old VMA keeps the tail, above ``A``."""
    return do_mprotect(t, t.machine.mm, HEAP + LEN // 2, LEN // 2, VM_READ)


def keep_pmd_table(k: Machine) -> None:
    """Heap plus a neighbour in the same 1 GiB: munmap frees the pte table only."""
    heap(k)
    k.add_vma(HEAP + 0x400000, HEAP + 0x410000, RW)
    k.populate(HEAP + 0x400000)


def replace_pmd(t):
    """Test writer: swap the pte table for a copy, leaving the VMA untouched —
    what a THP collapse-and-split would look like to the fault."""
    k = t.machine
    yield t.at(Src("test", "replace_pmd", "pmd = new table"))
    pmd_pt = k.table_for(A, "pmd", create=False)
    old = k.pt_pages[pmd_pt.get(0).target]
    new = k.alloc_pt("pte", A)
    new.entries = dict(old.entries)
    from spfteach.model.pgtable import PtState
    new.state = PtState.LINKED
    old.state = PtState.UNLINKED
    pmd_pt.set(0, Entry(Kind.TABLE, new.id))
    t.did(f"pmd now points to pt{new.id}")


def clear_pmd(t):
    """Test writer: empty the pmd as khugepaged does at the start of a collapse
    (the VMA's count is not touched)."""
    k = t.machine
    yield t.at(Src("test", "clear_pmd", "pmdp_collapse_flush()"))
    pmd_pt = k.table_for(A, "pmd", create=False)
    pmd_pt.set(0, Entry())
    t.did("pmd cleared")


def hold_ptl(t):
    """Test writer: take the heap's PTE lock, then (next step) release it."""
    k = t.machine
    pte_pt = k.table_for(A, "pte", create=False)
    ptl = k.ptl[pte_pt.id]
    yield from spin_lock(t, ptl, Src("test", "hold_ptl", "spin_lock(ptl)"))
    yield from spin_unlock(t, ptl, Src("test", "hold_ptl", "spin_unlock(ptl)"))


def MAPLOCK() -> int:  # noqa: N802 - reads like the constant it stands for
    """Steps of a lone write fault before pte_map_lock() disables IRQs."""
    return _steps_until(heap, "local_irq_disable", function="pte_map_lock_speculative")


def _interleave(before: int, other_steps: str = "1*") -> str:
    return f"0*{before},{other_steps},0*,1*"


RACES: dict[str, tuple[Setup, Callable, Callable[[], str], dict, int]] = {
    # A writer already inside its section when the fault reads the count.
    "spf_seq_odd": (heap, mprotect_ro, lambda: "1*3,0*,1*", {}, VM_FAULT_RETRY),
    # A writer runs between the first count read and the re-validation.
    "spf_seq_retry": (heap, mprotect_ro,
                      lambda: _interleave(_steps_until(heap, "read_seqcount_retry")), {},
                      VM_FAULT_RETRY),
    # A split moves the VMA's start above the address after the lookup.
    "spf_bounds": (heap, mprotect_tail,
                   lambda: _interleave(_steps_until(heap, "address < READ_ONCE(vma->vm_start)")),
                   {}, VM_FAULT_RETRY),
    # munmap() after the walk: handle_pte_fault must not read the (maybe freed) pmd.
    "hpf_vma_changed": (keep_pmd_table, munmap_heap,
                        lambda: _interleave(_steps_until(keep_pmd_table, "local_irq_disable",
                                                         function="handle_pte_fault")),
                        {}, VM_FAULT_RETRY),
    # A collapse empties the pmd after the walk without touching the VMA.
    "hpf_pmd_none": (heap, clear_pmd,
                     lambda: _interleave(_steps_until(heap, "local_irq_disable",
                                                      function="handle_pte_fault")),
                     {}, VM_FAULT_RETRY),
    "maplock_vma_changed": (heap, mprotect_ro,
                            lambda: _interleave(MAPLOCK()),
                            {}, VM_FAULT_RETRY),
    "maplock_pmd_same": (heap, replace_pmd,
                         lambda: _interleave(MAPLOCK()),
                         {}, VM_FAULT_RETRY),
    "maplock_trylock": (heap, hold_ptl,
                        lambda: f"1,0*{_steps_until(heap, 'spin_trylock')},0,1,0*", {},
                        VM_FAULT_RETRY),
    "maplock_vma_changed_locked": (
        heap, mprotect_ro,
        lambda: _interleave(_steps_until(heap, "spin_trylock") + 1, "1*3"), {}, VM_FAULT_RETRY),
}


def _present(k: Machine) -> None:
    """A present, not-yet-accessed page that another fault mapped after the MMU
    found the PTE empty: a read fault only sets the accessed bit, through
    pte_spinlock()."""
    heap(k)
    k.populate(A, accessed=False)
    k.fault_error_code = X86_PF_USER  # type: ignore[attr-defined]


def _code(k: Machine, write: bool, addr: int = A) -> int:
    """The error code of the set-up's fault (a set-up may say it was not present)."""
    return getattr(k, "fault_error_code", None) or mmu_error_code(k, addr, write)


RACES.update({
    "spinlock_vma_changed": (
        _present, mprotect_ro,
        lambda: _interleave(_steps_until(_present, "local_irq_disable", write=False,
                                              function="pte_spinlock_speculative")),
        {"write": False}, VM_FAULT_RETRY),
    "spinlock_pmd_same": (
        _present, replace_pmd,
        lambda: _interleave(_steps_until(_present, "local_irq_disable", write=False,
                                              function="pte_spinlock_speculative")),
        {"write": False}, VM_FAULT_RETRY),
    "spinlock_trylock": (
        _present, hold_ptl,
        lambda: f"1,0*{_steps_until(_present, 'spin_trylock', write=False)},0,1,0*",
        {"write": False}, VM_FAULT_RETRY),
    "spinlock_vma_changed_locked": (
        _present, mprotect_ro,
        lambda: _interleave(_steps_until(_present, "spin_trylock", write=False) + 1, "1*3"),
        {"write": False}, VM_FAULT_RETRY),
})


@pytest.mark.parametrize("name", sorted(RACES))
def test_race_exit(name: str) -> None:
    setup, other, schedule, kw, expected = RACES[name]
    run, tid = run_fault(setup, other=other, schedule=schedule(), **kw)
    t = run.task(tid)
    assert t.spf_result == expected, (t.checks_taken, run.machine.violations)
    assert first_fired(run, name) == name, t.checks_taken


def test_no_do_fault_speculatively() -> None:
    """A VMA with vm_ops and a populated path would need do_fault(): the speculative
    path must give up.  The vm_ops check fires first, so switch it off (the mutant
    mechanism) to reach the later one, as the explorer does."""
    def setup(k: Machine) -> None:
        heap(k, vm_ops="ext4_file_vm_ops")

    k = Machine(ncpus=1, mutants=frozenset({"spf_vm_ops"}))
    setup(k)
    t0 = k.add_task("fault")
    run = Run(k, [(t0, do_user_addr_fault(t0, k.mm, A, _code(k, True)))]).finish()
    assert t0.spf_result == VM_FAULT_RETRY
    assert t0.checks_taken[-1] == "hpf_no_do_fault", t0.checks_taken
    # the classic path then does the fault through vm_ops->fault()
    assert run.results[0] == 0


def test_fallback_after_race_matches_classic() -> None:
    """After a race abort the fallback ends as the classic path alone would, given
    the writer ran first."""
    sched = _interleave(_steps_until(heap, "local_irq_disable",
                                     function="pte_map_lock_speculative"))
    run, _ = run_fault(heap, other=mprotect_ro, schedule=sched)
    ref, _ = run_fault(heap, other=mprotect_ro, schedule="1*,0*", speculative=False)
    assert run.machine.page_tables() == ref.machine.page_tables()
    assert run.results[0] == ref.results[0] == VM_FAULT_SIGSEGV


def test_every_registered_check_is_covered() -> None:
    covered = set(SINGLE) | set(RACES) | {"hpf_no_do_fault", "spf_flags", "spf_put_vma",
                                          "spf_get_vma_ref", "anon_no_pte_alloc",
                                          "hpf_no_swap", "anon_no_anon_vma",
                                          "spf_pud_trans_huge"}
    assert covered == {c.name for c in registry.CHECKS}


def test_flags_and_put_vma_steps() -> None:
    """The two 'step' entries: the flags are set on every speculative fault, and
    every path that took a VMA reference drops it."""
    run, _ = run_fault(heap)
    flags = next(s for s in run.trace if s.src.function == "handle_speculative_fault")
    assert flags.src.snippet == "flags |= FAULT_FLAG_SPECULATIVE;"
    assert "SPECULATIVE set" in flags.text
    vma = run.machine.vmas[0]
    assert vma.vm_ref_count == 1 and not vma.freed  # only the tree's reference is left
    assert any("vm_ref_count 1→2" in s.text for s in run.trace)  # get_vma's reference
    assert "anon_no_pte_alloc" in run.task(0).checks_taken  # no pte_alloc speculatively
    assert not any("pte_alloc" in s.src.snippet for s in run.trace)
    for name, (setup, kw, _) in SINGLE.items():
        if name == "spf_no_vma":
            continue
        r, _ = run_fault(setup, **kw)
        assert all(v.vm_ref_count == (0 if v.vm_detached else 1) for v in r.machine.vmas.values())


def _spf_only(setup: Setup, other=None, schedule: str = "0*", write: bool = True):
    """Run until the speculative attempt returned (the classic path may not be
    modelled for the set-up): the fault task."""
    k = Machine(ncpus=2)
    setup(k)
    t0 = k.add_task("fault")
    progs = [(t0, do_user_addr_fault(t0, k.mm, A, _code(k, write)))]
    if other is not None:
        t1 = k.add_task("other")
        progs.append((t1, other(t1)))
    run = Run(k, progs)
    run.run_spec(schedule)
    while getattr(t0, "spf_result", None) is None:
        run.step(0)
    assert not k.violations, k.violations
    return t0


def test_no_swap_in_speculatively() -> None:
    """A swap PTE: the speculative path leaves swap-in to the classic path."""
    t0 = _spf_only(lambda k: (heap(k), k.populate(A), k.swap_out(A)), schedule="")
    assert t0.spf_result == VM_FAULT_RETRY
    assert first_fired_task(t0, "hpf_no_swap") == "hpf_no_swap", t0.checks_taken


def drop_anon_vma(t):
    """Test writer: the VMA loses its anon_vma (mremap(MREMAP_DONTUNMAP) does)."""
    yield t.at(Src("test", "drop_anon_vma", "vma->anon_vma = NULL"))
    t.machine.mm.mmap[0].anon_vma = None
    t.did("anon_vma = NULL")


def test_anon_vma_gone_speculatively() -> None:
    """The anon_vma was there at the start and is gone when the page is allocated:
    retry, preparing one needs mmap_lock."""
    n = _steps_until(heap, "if (unlikely(!READ_ONCE(vma->anon_vma))) {")
    t0 = _spf_only(heap, drop_anon_vma, schedule=f"0*{n},1*")
    assert t0.spf_result == VM_FAULT_RETRY
    assert first_fired_task(t0, "anon_no_anon_vma") == "anon_no_anon_vma", t0.checks_taken


def first_fired_task(t, name: str) -> str:
    for c in t.checks_taken:
        if c == name or registry.get(c).exit != "branch":
            return c
    return "none"


def test_pud_trans_huge_is_dead_code_on_x86() -> None:
    """On x86 pud_bad() is true for a huge pud (_PAGE_PSE is not a table bit), so
    the walk refuses it at spf_pud and spf_pud_trans_huge never fires."""
    run, tid = run_fault(lambda k: (heap(k, populate=False),
                                    k.populate_huge(A, "pud")))
    assert run.task(tid).checks_taken[0] == "spf_pud"
    assert "spf_pud_trans_huge" not in run.task(tid).checks_taken


def test_private_dev_zero_is_handled_speculatively() -> None:
    """A private /dev/zero mapping is anonymous memory with a file: nothing on the
    anonymous path uses the file, so the port handles it speculatively (it once
    refused it, with a reason that did not hold), with the classic path's result."""
    def setup(k: Machine) -> None:
        heap(k, vm_file="/dev/zero")

    run, tid = run_fault(setup)
    assert run.task(tid).spf_result == 0
    classic, _ = run_fault(setup, speculative=False)
    assert run.machine.page_tables() == classic.machine.page_tables()


@pytest.mark.parametrize("name,setup,kw", [
    ("spf_grows", lambda k: heap(k, RW | VM_GROWSDOWN), {}),
    ("spf_mpol_interleave",
     lambda k: (heap(k), setattr(k.mm, "task_policy", MPOL_INTERLEAVE)), {}),
])
def test_scope_tests_refuse_only_by_choice(name: str, setup, kw) -> None:
    """A scope test refuses a kind of VMA the speculative path could handle: with it
    widened the fault completes speculatively, with no violation, and leaves the
    page tables the classic path would."""
    k = Machine(ncpus=1, widened=[name])
    setup(k)
    t0 = k.add_task("fault")
    run = Run(k, [(t0, do_user_addr_fault(t0, k.mm, A, _code(k, True)))]).finish()
    assert t0.spf_result == 0 and not k.violations, k.violations
    assert any(f"check {name}: widened" in n for s in run.trace for n in s.notes)
    classic, _ = run_fault(setup, speculative=False)
    assert k.page_tables() == classic.machine.page_tables()


def test_pmd_changed_needs_the_whole_collapse_in_one_window() -> None:
    """Why spf_abort_pmd_changed stays at 0 on the live kernel (tests/kernel/test_kernel_driver.py,
    RARE_COUNTERS): in the model of the port, the lock helper's pmd_same check fires only when
    khugepaged's vm_write_begin() and its PMD clear both run between the helper's
    vma_has_changed() and its READ_ONCE(*vmf->pmd), two consecutive statements of the fault
    (IRQs off). The shortest schedule the explorer found shows exactly that window."""
    from spfteach.scenarios import get

    run = get("present-vs-thp-collapse").new_run()
    run.run_spec("0*29,1*5,0*2")
    assert "spinlock_pmd_same" in run.task(0).checks_taken
    t0 = [s for s in run.trace if s.tid == 0 and s.src.function == "pte_spinlock_speculative"]
    check = next(s.index for s in t0 if s.src.snippet.startswith("if (vma_has_changed"))
    read = next(s.index for s in t0 if s.src.snippet.startswith("pmdval = READ_ONCE"))
    between = [s for s in run.trace if check < s.index < read]
    assert read - check - 1 == len(between) and all(s.tid == 1 for s in between)
    snippets = [s.src.snippet for s in between]
    assert "vm_write_begin(vma);" in snippets
    assert any(s.startswith("_pmd = pmdp_collapse_flush(") for s in snippets), snippets
