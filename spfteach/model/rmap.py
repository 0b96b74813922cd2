"""``mm/rmap.c``: the reverse map of anonymous pages, and ``anon_vma_prepare()``.

Every anonymous page records the ``anon_vma`` of the VMA that maps it and its
*index* (``linear_page_index()``: the page's offset in the VMA's object); reclaim
and migration find the PTE again from those two.  A page whose anon_vma or index
does not match the VMA that maps it cannot be found (the ``rmap`` invariant).

The first anonymous page of a VMA needs an ``anon_vma``.  Preparing one may
reuse a neighbour's, which means looking at the VMA's neighbours in the tree —
only safe with ``mmap_lock`` held.  That is why the speculative path refuses a
VMA whose ``anon_vma`` is still NULL.
"""

from __future__ import annotations

from .bug import BUG_ON
from .locking import spin_lock, spin_unlock
from .mm import vm_write_begin, vm_write_end
from .mm_types import VmAreaStruct, linear_page_index
from .task import Gen, Src, Task

F = "mm/rmap.c"


def anon_vma_prepare(t: Task, vma: VmAreaStruct) -> Gen:
    """True when the VMA has an anon_vma afterwards (False would be OOM)."""
    yield t.at(Src("include/linux/rmap.h", "anon_vma_prepare", "if (likely(vma->anon_vma))"))
    t.machine.use_vma(t, vma)
    if vma.anon_vma is not None:
        t.did(f"vma{vma.id} already has anon_vma av{vma.anon_vma}")
        return True
    t.did(f"vma{vma.id} has no anon_vma yet")
    return (yield from __anon_vma_prepare(t, vma))


def __anon_vma_prepare(t: Task, vma: VmAreaStruct) -> Gen:
    k = t.machine
    fn = "__anon_vma_prepare"
    k.event(t, "__anon_vma_prepare", vma)
    yield from spin_lock(t, k.mm.page_table_lock, Src(F, fn, "spin_lock(&mm->page_table_lock);"))
    yield from vm_write_begin(t, vma, Src(F, fn, "vm_write_begin(vma);"))
    yield t.at(Src(F, fn, "smp_store_release(&vma->anon_vma, anon_vma);"))
    if vma.anon_vma is None:
        vma.anon_vma = k.new_anon_vma()
        t.did(f"vma{vma.id}.anon_vma = av{vma.anon_vma}")
    else:
        t.did(f"another thread prepared av{vma.anon_vma} first")
    yield from vm_write_end(t, vma, Src(F, fn, "vm_write_end(vma);"))
    yield from spin_unlock(t, k.mm.page_table_lock,
                           Src(F, fn, "spin_unlock(&mm->page_table_lock);"))
    return True


def page_add_new_anon_rmap(t: Task, pfn: int, vma: VmAreaStruct, address: int,
                           src: Src) -> Gen:
    """``page_add_new_anon_rmap(page, vma, address)``: the new page's anon_vma and
    index come from the live VMA — right only while nothing can change it
    (``mmap_lock`` held)."""
    yield t.at(src)
    k = t.machine
    k.use_vma(t, vma)
    BUG_ON(address < vma.vm_start or address >= vma.vm_end,
           f"VM_BUG_ON_VMA(address < vma->vm_start || address >= vma->vm_end): {address:#x} "
           f"is outside vma{vma.id} [{vma.vm_start:#x}, {vma.vm_end:#x})")
    BUG_ON(vma.anon_vma is None, "BUG_ON(!anon_vma) in __page_set_anon_rmap()")
    index = linear_page_index(vma, address)
    k.page_add_rmap(t, pfn, vma.anon_vma, index)
    t.did(f"page{pfn}: rmap av{vma.anon_vma}, index {index:#x} (from vma{vma.id})")


def page_add_anon_rmap(t: Task, pfn: int, vma: VmAreaStruct, address: int, src: Src) -> Gen:
    """``page_add_anon_rmap()``: the same for a page brought back from swap."""
    yield t.at(src)
    k = t.machine
    k.use_vma(t, vma)
    BUG_ON(vma.anon_vma is None, "BUG_ON(!anon_vma) in __page_set_anon_rmap()")
    index = linear_page_index(vma, address)
    k.page_add_rmap(t, pfn, vma.anon_vma, index)
    t.did(f"page{pfn}: rmap av{vma.anon_vma}, index {index:#x} (from vma{vma.id})")
