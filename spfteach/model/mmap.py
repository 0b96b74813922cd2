"""``mm/mmap.c``: VMA lookup (locked and lockless), VMA lifetime, ``munmap()``.

``get_vma()`` is the SPF lookup: it walks the tree under ``mm_rb_lock`` instead
of ``mmap_sem`` and takes a reference, so that a concurrent ``munmap()`` can
remove the VMA from the tree but cannot free it while the fault still reads it.
``put_vma()`` drops the reference; the last one frees the VMA.
"""

from __future__ import annotations

from . import pgtable
from .invariants import check_range
from .locking import (
    down_write,
    read_lock,
    read_unlock,
    spin_lock,
    spin_unlock,
    up_write,
    write_lock,
    write_unlock,
)
from .mm_types import MmStruct, VmAreaStruct
from .pgtable import NONE, Kind, PageTablePage, PtState
from .seqlock import write_seqcount_begin, write_seqcount_end
from .smp import send_ipi_and_wait
from .task import Gen, Src, Task

F = "mm/mmap.c"


def _s(fn: str, snippet: str, after: str = "") -> Src:
    return Src(F, fn, snippet, after)


def __find_vma(mm: MmStruct, addr: int) -> VmAreaStruct | None:
    """The first VMA with ``vm_end > addr`` — not necessarily containing it."""
    for vma in mm.mmap:
        if addr < vma.vm_end:
            return vma
    return None


def get_vma(t: Task, mm: MmStruct, addr: int) -> Gen:
    yield from read_lock(t, mm.mm_rb_lock, _s("get_vma", "read_lock(&mm->mm_rb_lock);"))
    yield t.at(_s("get_vma", "vma = __find_vma(mm, addr);"))
    vma = __find_vma(mm, addr)
    if vma is not None and "spf_get_vma_ref" in t.kernel.mutants:
        t.did(f"finds vma{vma.id} [{vma.vm_start:#x}, {vma.vm_end:#x}); (mutant) takes no "
              "reference")
    elif vma is not None:
        vma.vm_ref_count += 1
        t.did(f"finds vma{vma.id} [{vma.vm_start:#x}, {vma.vm_end:#x}), "
              f"vm_ref_count {vma.vm_ref_count - 1}→{vma.vm_ref_count}")
    else:
        t.did(f"no VMA ends above {addr:#x}")
    yield from read_unlock(t, mm.mm_rb_lock, _s("get_vma", "read_unlock(&mm->mm_rb_lock);"))
    return vma


def put_vma(t: Task, vma: VmAreaStruct, src: Src) -> Gen:
    """Drop a reference; the last one frees the VMA (``__free_vma()``)."""
    yield t.at(src)
    if vma.freed:
        t.kernel.violate("use-after-free", f"T{t.tid} drops a reference on freed vma{vma.id}")
    vma.vm_ref_count -= 1
    text = f"vma{vma.id}.vm_ref_count {vma.vm_ref_count + 1}→{vma.vm_ref_count}"
    if vma.vm_ref_count == 0:
        vma.freed = True
        text += ": last reference, vma freed"
    t.did(text)


def find_vma(t: Task, mm: MmStruct, addr: int) -> Gen:
    """The classic lookup, under ``mmap_sem``."""
    yield t.at(_s("find_vma", "vma = __find_vma(mm, addr);"))
    vma = __find_vma(mm, addr)
    t.did(f"finds vma{vma.id}" if vma else f"no VMA ends above {addr:#x}")
    return vma


# --- munmap ------------------------------------------------------------------


def vma_rb_erase(t: Task, mm: MmStruct, vma: VmAreaStruct) -> Gen:
    """Unlink from the tree under ``mm_rb_lock`` and mark the node empty.

    Marking the node is what ``vma_has_changed()`` tests, so a fault that still
    holds a reference learns that its VMA is gone.
    """
    yield from write_lock(t, mm.mm_rb_lock, _s("vma_rb_erase", "write_lock(&mm->mm_rb_lock);"))
    yield t.at(_s("vma_rb_erase", "RB_CLEAR_NODE(&vma->vm_rb);"))
    mm.mmap.remove(vma)
    vma.rb_detached = True
    t.did(f"vma{vma.id} leaves the tree (RB_EMPTY_NODE)")
    yield from write_unlock(t, mm.mm_rb_lock,
                            _s("vma_rb_erase", "write_unlock(&mm->mm_rb_lock);"))


def zap_pte_range(t: Task, mm: MmStruct, pte_pt: PageTablePage, start: int, end: int) -> Gen:
    """Clear the PTEs of one pte table under its lock.

    When the mmu_gather batch fills up, the TLB is flushed *before* the PTE lock
    is dropped (``force_flush``): this CPU then waits, lock held, for every other
    CPU to answer an IPI.
    """
    k = t.kernel
    ptl = k.ptl[pte_pt.id]
    fn = "zap_pte_range"
    yield from spin_lock(t, ptl, Src("mm/memory.c", fn, "start_pte = pte_offset_map_lock("))
    yield t.at(Src("mm/memory.c", fn, "ptent = ptep_get_and_clear_full(mm, addr, pte,"))
    cleared = 0
    for idx in sorted(pte_pt.entries):
        if not start <= pte_pt.address_of(idx) < end:
            continue
        e = pte_pt.get(idx)
        pte_pt.set(idx, NONE)
        k.pt_writes += 1
        cleared += 1
        if e.kind is Kind.PAGE and not e.special:
            k.pages[e.target] = "freed"
    force_flush = cleared >= k.tlb_batch
    t.did(f"clears {cleared} PTE(s) of pt{pte_pt.id}"
          + ("; gather batch full: force_flush" if force_flush else ""))
    if force_flush:
        yield from send_ipi_and_wait(
            t, "TLB-flush",
            Src("mm/memory.c", fn, "tlb_flush_mmu_tlbonly(tlb);"),
            Src("arch/x86/mm/tlb.c", "native_flush_tlb_multi", "on_each_cpu_cond_mask("),
        )
    yield from spin_unlock(t, ptl, Src("mm/memory.c", fn, "pte_unmap_unlock(start_pte, ptl);"))


_CLEAR = {
    "pte": ("free_pte_range", "pmd_clear(pmd);"),
    "pmd": ("free_pmd_range", "pud_clear(pud);"),
    "pud": ("free_pud_range", "p4d_clear(p4d);"),
    "p4d": ("free_p4d_range", "pgd_clear(pgd);"),
}


def _linked_tables(k, start: int, end: int) -> list[tuple[PageTablePage, PageTablePage, int]]:
    """(table, parent, index) of every linked table below the pgd mapping part of
    ``[start, end)``, deepest level first: the order ``free_pgtables()`` unlinks."""
    out = []
    for parent in k.pt_pages.values():
        if parent.state is not PtState.LINKED or parent.level == "pte":
            continue
        for idx, e in parent.entries.items():
            if e.kind is Kind.TABLE:
                child = k.pt_pages[e.target]
                if child.base < end and start < child.base + child.span:
                    out.append((child, parent, idx))
    depth = {lvl: i for i, lvl in enumerate(pgtable.LEVELS)}
    out.sort(key=lambda x: (-depth[x[0].level], x[0].id))
    return out


def free_pgtables(t: Task, mm: MmStruct, start: int, end: int) -> Gen:
    """Unlink the page tables no remaining VMA needs (``pmd_clear()`` etc.).

    They are only unlinked here; they are freed by ``tlb_finish_mmu()`` after
    every CPU answered an IPI — which a CPU walking with IRQs off cannot.
    """
    unlinked: list[PageTablePage] = []
    for child, parent, idx in _linked_tables(t.kernel, start, end):
        lo, hi = child.base, child.base + child.span
        if any(v.vm_start < hi and lo < v.vm_end for v in mm.mmap):
            continue  # another VMA still maps through this table
        fn, clear = _CLEAR[child.level]
        yield t.at(Src("mm/memory.c", fn, clear))
        parent.set(idx, NONE)
        t.kernel.pt_writes += 1
        child.state = PtState.UNLINKED
        unlinked.append(child)
        t.did(f"unlinks {child.level} table pt{child.id} from pt{parent.id}[{idx}]")
    return unlinked


def tlb_finish_mmu(t: Task, tables: list[PageTablePage]) -> Gen:
    """Flush TLBs by IPI, then free the gathered page-table pages."""
    yield from send_ipi_and_wait(
        t, "TLB-flush",
        Src("mm/mmu_gather.c", "tlb_flush_mmu", "tlb_flush_mmu_tlbonly(tlb);"),
        Src("arch/x86/mm/tlb.c", "native_flush_tlb_multi", "on_each_cpu_cond_mask("),
    )
    if not tables:
        return
    yield t.at(Src("mm/mmu_gather.c", "tlb_flush_mmu", "tlb_flush_mmu_free(tlb);"))
    for pt in tables:
        pt.state = PtState.FREED
    t.did("frees page table(s) " + ", ".join(f"pt{pt.id}" for pt in tables))


def unmap_region(t: Task, mm: MmStruct, vma: VmAreaStruct) -> Gen:
    """Zap the VMA's PTEs, unlink the page tables it alone used, flush, free."""
    ptes = [pt for pt in t.kernel.pt_pages.values()
            if pt.level == "pte" and pt.state is PtState.LINKED
            and pt.base < vma.vm_end and vma.vm_start < pt.base + pt.span]
    for pt in sorted(ptes, key=lambda p: p.base):
        yield from zap_pte_range(t, mm, pt, vma.vm_start, vma.vm_end)
    tables = yield from free_pgtables(t, mm, vma.vm_start, vma.vm_end)
    yield from tlb_finish_mmu(t, tables)


def do_munmap(t: Task, mm: MmStruct, start: int, length: int) -> Gen:
    """``munmap()``: take ``mmap_sem`` for writing and unmap."""
    yield from down_write(t, mm.mmap_sem, _s("vm_munmap", "down_write(&mm->mmap_sem)"))
    yield from __do_munmap(t, mm, start, length)
    yield from up_write(t, mm.mmap_sem, _s("vm_munmap", "up_write(&mm->mmap_sem);"))
    check_range(t.kernel, start, start + length, f"T{t.tid}'s munmap")
    return 0


def __do_munmap(t: Task, mm: MmStruct, start: int, length: int) -> Gen:
    """Unmap exactly one whole VMA, ``mmap_sem`` held for writing (mremap() calls
    this too).  Splitting is ``__split_vma()``'s business, not modelled here."""
    fn = "do_munmap"
    vma = yield from find_vma(t, mm, start)
    if vma is None or vma.vm_start >= start + length:
        return 0
    if vma.vm_start != start or vma.vm_end != start + length:
        raise NotImplementedError("the model's munmap removes whole VMAs only")
    seq = vma.vm_sequence
    yield from write_seqcount_begin(t, seq, _s(fn, "vm_write_begin(vma);"))
    yield from vma_rb_erase(t, mm, vma)
    yield from unmap_region(t, mm, vma)
    yield from write_seqcount_end(t, seq, _s(fn, "vm_write_end(vma);"))
    yield from put_vma(t, vma, _s("remove_vma", "put_vma(vma);"))
    return 0


def vma_rb_insert(t: Task, mm: MmStruct, vma: VmAreaStruct) -> Gen:
    """Link a new VMA into the tree under ``mm_rb_lock`` (``__vma_link_rb()``)."""
    yield from write_lock(t, mm.mm_rb_lock, _s("vma_rb_insert", "write_lock(&mm->mm_rb_lock);"))
    yield t.at(_s("vma_rb_insert", "rb_insert_augmented(&vma->vm_rb, root,"))
    mm.mmap.append(vma)
    mm.mmap.sort(key=lambda v: v.vm_start)
    vma.rb_detached = False
    t.did(f"vma{vma.id} [{vma.vm_start:#x}, {vma.vm_end:#x}) enters the tree")
    yield from write_unlock(t, mm.mm_rb_lock,
                            _s("vma_rb_insert", "write_unlock(&mm->mm_rb_lock);"))


