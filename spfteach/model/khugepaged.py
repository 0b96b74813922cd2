"""``mm/khugepaged.c``: collapse a pte table's pages into one huge page.

The writer behind the seed's ``pmd_same()`` checks.  ``collapse_huge_page()``
holds ``mmap_sem`` for writing — which kept every classic fault out — but, as
in the seed, it does not touch the VMA's sequence count: the VMA is the same
VMA, only its page tables change.  It empties the pmd (and flushes TLBs by
IPI), copies the pages, and installs a huge pmd.  The old pte table is not
freed: it is *deposited* for a later split, unlinked.  A speculative fault that
walked to the old table must notice that the pmd is not the one it saw.
"""

from __future__ import annotations

from . import pgtable
from .locking import down_write, spin_lock, spin_unlock, up_write
from .mm_types import MmStruct
from .pgtable import NONE, Entry, Kind, PtState
from .smp import send_ipi_and_wait
from .task import Gen, Src, Task

F = "mm/khugepaged.c"


def _s(snippet: str) -> Src:
    return Src(F, "collapse_huge_page", snippet)


def collapse_huge_page(t: Task, mm: MmStruct, address: int) -> Gen:
    k = t.kernel
    yield from down_write(t, mm.mmap_sem, _s("mmap_write_lock(mm);"))
    pmd_pt = k.table_for(address, "pmd", create=False)
    assert pmd_pt is not None
    idx = pgtable.index("pmd", address, k.la57)
    pmd_ptl = mm.page_table_lock  # pmd_lock(): the mm's lock without split pmd locks
    yield from spin_lock(t, pmd_ptl, _s("pmd_ptl = pmd_lock(mm, pmd);"))
    yield t.at(_s("_pmd = pmdp_collapse_flush(vma, address, pmd);"))
    old = pmd_pt.get(idx)
    pmd_pt.set(idx, NONE)
    k.pt_writes += 1
    assert old.kind is Kind.TABLE
    pte_pt = k.pt_pages[old.target]
    pte_pt.state = PtState.COLLAPSING
    t.did(f"empties pmd[{idx}] (was {old})")
    yield from send_ipi_and_wait(t, "TLB-flush", Src("mm/pgtable-generic.c", "pmdp_collapse_flush",
                                     "flush_tlb_range(vma, address, address + HPAGE_PMD_SIZE);"),
                                 Src("arch/x86/mm/tlb.c", "native_flush_tlb_multi",
                                     "on_each_cpu_cond_mask("))
    yield from spin_unlock(t, pmd_ptl, Src(F, "collapse_huge_page", "spin_unlock(pmd_ptl);",
                                           after="_pmd = pmdp_collapse_flush("))
    # Isolate and copy the pages under the pte table's lock: a fault that took
    # that lock before the pmd was emptied finishes first, and its page is
    # copied with the others.
    pte_ptl = k.ptl[pte_pt.id]
    yield from spin_lock(t, pte_ptl, _s("spin_lock(pte_ptl);"))
    yield t.at(_s("result =  __collapse_huge_page_isolate(vma, address, pte, cc,"))
    huge = k.alloc_page()
    for i, e in list(pte_pt.entries.items()):
        if e.kind is Kind.PAGE and not e.special:
            k.pages[e.target] = "freed"
        pte_pt.set(i, NONE)
    pte_pt.state = PtState.UNLINKED  # deposited: kept for a later split
    t.did(f"copies the pages into huge page{huge}; old pte table pt{pte_pt.id} deposited")
    yield from spin_unlock(t, pte_ptl, _s("spin_unlock(pte_ptl);"))
    yield from spin_lock(t, pmd_ptl, Src(F, "collapse_huge_page", "spin_lock(pmd_ptl);",
                                         after="_pmd = maybe_pmd_mkwrite("))
    yield t.at(_s("set_pmd_at(mm, address, pmd, _pmd);"))
    pmd_pt.set(idx, Entry(Kind.HUGE, huge, write=True, accessed=True, dirty=True))
    k.pages[huge] = "mapped"
    t.did(f"pmd[{idx}] = huge page{huge}")
    yield from spin_unlock(t, pmd_ptl, Src(F, "collapse_huge_page", "spin_unlock(pmd_ptl);",
                                           after="set_pmd_at(mm, address, pmd, _pmd);"))
    yield from up_write(t, mm.mmap_sem, _s("mmap_write_unlock(mm);"))
    return 0
