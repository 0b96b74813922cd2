"""``mm/khugepaged.c``: collapse a pte table's pages into one huge page.

The writer behind the ``pmd_same()`` checks.  ``collapse_huge_page()`` holds
``mmap_lock`` for writing — which kept every classic fault out — and empties the
pmd (flushing TLBs by IPI), copies the pages, and installs a huge pmd.  The old
pte table is not freed: it is *deposited* for a later split, unlinked.

The port brackets all of it with ``vm_write_begin()/vm_write_end()`` (patch
0005), so a speculative fault's ``vma_has_changed()`` sees a collapse in
progress.  The seed did not: its khugepaged left the VMA's count alone, and only
the pmd tests (``pmd_none()`` in the walk and in ``handle_pte_fault()``,
``pmd_same()`` in the lock helpers) told a fault that its pte table was going
away.  ``bracket=False`` is that seed variant, kept for the lesson it teaches.
"""

from __future__ import annotations

from . import pgtable
from .locking import down_write, spin_lock, spin_unlock, up_write
from .mm import vm_write_begin, vm_write_end
from .mm_types import MmStruct
from .mmap import find_vma
from .pgtable import NONE, Entry, Kind, PtState
from .rmap import page_add_new_anon_rmap
from .smp import send_ipi_and_wait
from .task import Gen, Src, Task

F = "mm/khugepaged.c"


def _s(snippet: str, after: str = "") -> Src:
    return Src(F, "collapse_huge_page", snippet, after)


def collapse_huge_page(t: Task, mm: MmStruct, address: int, bracket: bool = True) -> Gen:
    """Collapse the 2 MiB at ``address`` (aligned); ``bracket=False``: the seed's
    khugepaged, which does not touch the VMA's sequence count.  (6.12's khugepaged always
    write-locks the VMA: under the per-VMA design ``bracket`` changes nothing.)"""
    k = t.machine
    bracket = bracket or k.design == "per-vma"
    yield from down_write(t, mm.mmap_lock, _s("mmap_write_lock(mm);"))
    vma = yield from find_vma(t, mm, address,
                              _s("result = hugepage_vma_revalidate(mm, address, true, &vma, cc);",
                                 after="mmap_write_lock(mm);"))
    assert vma is not None and vma.vm_start <= address, "the scenario collapses a mapped range"
    pmd_pt = k.table_for(address, "pmd", create=False)
    assert pmd_pt is not None, "the scenario collapses a range with page tables"
    idx = pgtable.index("pmd", address, k.la57)
    if bracket:
        yield from vm_write_begin(t, vma, _s("vm_write_begin(vma);"))
    pmd_ptl = mm.page_table_lock  # pmd_lock(): the mm's lock without split pmd locks
    yield from spin_lock(t, pmd_ptl, _s("pmd_ptl = pmd_lock(mm, pmd);"))
    yield t.at(_s("_pmd = pmdp_collapse_flush(vma, address, pmd);"))
    old = pmd_pt.get(idx)
    assert old.kind is Kind.TABLE, "the scenario collapses a range mapped by a pte table"
    k.store(t, pmd_pt, idx, NONE)
    k.touch(address, address + pgtable.HPAGE_PMD_SIZE)
    pte_pt = k.pt_pages[old.target]
    pte_pt.state = PtState.COLLAPSING
    t.did(f"empties pmd[{idx}] (was {old})")
    yield from send_ipi_and_wait(t, "TLB-flush", Src("mm/pgtable-generic.c", "pmdp_collapse_flush",
                                     "flush_tlb_range(vma, address, address + HPAGE_PMD_SIZE);"),
                                 Src("arch/x86/mm/tlb.c", "native_flush_tlb_multi",
                                     "on_each_cpu_cond_mask("))
    yield from spin_unlock(t, pmd_ptl, _s("spin_unlock(pmd_ptl);",
                                          after="_pmd = pmdp_collapse_flush("))
    # Isolate and copy the pages under the pte table's lock: a fault that took
    # that lock before the pmd was emptied finishes first, and its page is
    # copied with the others.
    pte_ptl = k.ptl[pte_pt.id]
    yield from spin_lock(t, pte_ptl, _s("spin_lock(pte_ptl);"))
    yield t.at(_s("result =  __collapse_huge_page_isolate(vma, address, pte, cc,"))
    huge = k.alloc_page()
    for i, e in list(pte_pt.entries.items()):
        k.store(t, pte_pt, i, NONE)
        if e.kind is Kind.PAGE and not e.special:
            k.free_page(t, e.target)
    pte_pt.state = PtState.UNLINKED  # deposited: kept for a later split
    t.did(f"copies the pages into huge page{huge}; old pte table pt{pte_pt.id} deposited")
    yield from spin_unlock(t, pte_ptl, _s("spin_unlock(pte_ptl);"))
    yield from spin_lock(t, pmd_ptl, _s("spin_lock(pmd_ptl);", after="_pmd = maybe_pmd_mkwrite("))
    yield from page_add_new_anon_rmap(t, huge, vma, address,
                                      _s("page_add_new_anon_rmap(hpage, vma, address);"))
    yield t.at(_s("set_pmd_at(mm, address, pmd, _pmd);"))
    k.store(t, pmd_pt, idx, Entry(Kind.HUGE, huge, write=True, accessed=True, dirty=True))
    t.did(f"pmd[{idx}] = huge page{huge}")
    yield from spin_unlock(t, pmd_ptl, _s("spin_unlock(pmd_ptl);",
                                          after="set_pmd_at(mm, address, pmd, _pmd);"))
    if bracket:
        yield from vm_write_end(t, vma, _s("vm_write_end(vma);", after="set_pmd_at(mm, address,"))
    yield from up_write(t, mm.mmap_lock, _s("mmap_write_unlock(mm);", after="out_up_write:"))
    return 0
