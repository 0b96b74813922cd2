"""``mm/rmap.c``: ``anon_vma_prepare()``.

The first anonymous page of a VMA needs an ``anon_vma`` (the reverse-mapping
anchor).  Preparing one may reuse a neighbour's, which means looking at the
VMA's neighbours in the tree — only safe with ``mmap_sem`` held.  That is why
the speculative path refuses a VMA whose ``anon_vma`` is still NULL.
"""

from __future__ import annotations

from .locking import spin_lock, spin_unlock
from .mm_types import VmAreaStruct
from .seqlock import write_seqcount_begin, write_seqcount_end
from .task import Gen, Src, Task

F = "mm/rmap.c"


def anon_vma_prepare(t: Task, vma: VmAreaStruct) -> Gen:
    """True when the VMA has an anon_vma afterwards (False would be OOM)."""
    yield t.at(Src("include/linux/rmap.h", "anon_vma_prepare", "if (likely(vma->anon_vma))"))
    t.kernel.use_vma(t, vma)
    if vma.anon_vma is not None:
        t.did(f"vma{vma.id} already has anon_vma av{vma.anon_vma}")
        return True
    t.did(f"vma{vma.id} has no anon_vma yet")
    return (yield from __anon_vma_prepare(t, vma))


def __anon_vma_prepare(t: Task, vma: VmAreaStruct) -> Gen:
    k = t.kernel
    fn = "__anon_vma_prepare"
    if not k.mm.mmap_sem.held_by(t.tid):
        k.violate("needs-mmap_sem", f"T{t.tid} prepares vma{vma.id}'s anon_vma without "
                                    "mmap_sem (it reads the VMA's neighbours)")
    yield from spin_lock(t, k.mm.page_table_lock, Src(F, fn, "spin_lock(&mm->page_table_lock);"))
    yield from write_seqcount_begin(t, vma.vm_sequence, Src(F, fn, "vm_write_begin(vma);"))
    yield t.at(Src(F, fn, "smp_store_release(&vma->anon_vma, anon_vma);"))
    if vma.anon_vma is None:
        vma.anon_vma = k.new_anon_vma()
        t.did(f"vma{vma.id}.anon_vma = av{vma.anon_vma}")
    else:
        t.did(f"another thread prepared av{vma.anon_vma} first")
    yield from write_seqcount_end(t, vma.vm_sequence, Src(F, fn, "vm_write_end(vma);"))
    yield from spin_unlock(t, k.mm.page_table_lock,
                           Src(F, fn, "spin_unlock(&mm->page_table_lock);"))
    return True
