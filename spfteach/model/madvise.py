"""``mm/madvise.c``: ``madvise(MADV_DONTNEED)``.

The writer of the "TLB-flush IPI vs PTE lock" race.  It zaps PTEs but leaves
the VMA as it is — no sequence count change, ``mmap_lock`` only for reading —
so a speculative fault sails through ``vma_has_changed()`` and meets the zap at
the PTE lock.  When the zap's batch fills, it flushes the TLB *while holding
that lock*, waiting for every CPU to answer the IPI.
"""

from __future__ import annotations

from .locking import down_read, up_read
from .mm_types import MmStruct
from .mmap import find_vma, zap_pte_range
from .pgtable import PtState
from .task import Gen, Src, Task

F = "mm/madvise.c"


def madvise_dontneed(t: Task, mm: MmStruct, start: int, length: int) -> Gen:
    end = start + length
    yield from down_read(t, mm.mmap_lock, Src(F, "do_madvise", "mmap_read_lock(mm);"))
    vma = yield from find_vma(t, mm, start)
    if vma is not None:
        tables = sorted((pt for pt in t.machine.pt_pages.values()
                         if pt.level == "pte" and pt.state is PtState.LINKED
                         and pt.base < end and start < pt.base + pt.span), key=lambda p: p.base)
        for pt in tables:
            yield from zap_pte_range(t, mm, pt, max(start, vma.vm_start), min(end, vma.vm_end))
    yield from up_read(t, mm.mmap_lock, Src(F, "do_madvise", "mmap_read_unlock(mm);"))
    return 0
