"""``mm/mmap.c``: VMA lookup (locked and lockless), VMA lifetime, ``munmap()``.

``get_vma()`` is the SPF lookup: it walks the maple tree under
``rcu_read_lock()`` instead of ``mmap_lock`` and takes a reference with
``atomic_inc_not_zero()``, so that a concurrent ``munmap()`` can remove the VMA
from the tree but cannot free it while the fault still reads it.  ``put_vma()``
drops the reference; the last one frees the VMA after an RCU grace period
(``call_rcu()``), because a lookup may still have found it in the tree.
"""

from __future__ import annotations

from . import checks as C
from . import pgtable
from .locking import down_write, spin_lock, spin_unlock, up_write
from .mm import vm_write_begin, vm_write_end
from .mm_types import MmStruct, VmAreaStruct
from .pgtable import NONE, Kind, PageTablePage, PtState
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


def rcu_read_lock(t: Task, src: Src) -> Gen:
    yield t.at(src)
    t.machine.rcu_readers.add(t.tid)
    t.did("enters an RCU read-side section: nothing found in the tree is freed under it")


def rcu_read_unlock(t: Task, src: Src) -> Gen:
    yield t.at(src)
    k = t.machine
    k.rcu_readers.discard(t.tid)
    done = []
    for waiting, vma in list(k.rcu_callbacks):
        waiting.discard(t.tid)
        if not waiting:
            k.rcu_callbacks.remove((waiting, vma))
            vma.freed = True
            done.append(f"vma{vma.id}")
    t.did("leaves the RCU read-side section"
          + (f"; grace period over: {', '.join(done)} freed" if done else ""))


def get_vma(t: Task, mm: MmStruct, addr: int) -> Gen:
    fn = "get_vma"
    yield from rcu_read_lock(t, _s(fn, "rcu_read_lock();"))
    yield t.at(_s(fn, "vma = mas_walk(&mas);"))
    found = next((v for v in mm.mmap if v.contains(addr)), None)
    t.did(f"finds vma{found.id} [{found.vm_start:#x}, {found.vm_end:#x})" if found
          else f"no VMA contains {addr:#x}")
    vma = found
    if found is not None:
        yield t.at(_s(fn, "if (vma && !atomic_inc_not_zero(&vma->vm_ref_count))"))
        t.machine.use_vma(t, found)
        if t.machine.mutated(C.SPF_GET_VMA_REF):
            t.did(f"(mutant) takes no reference on vma{found.id}")
        elif found.vm_ref_count == 0:
            vma = None
            t.did(f"vma{found.id}.vm_ref_count is 0: being freed, vma = NULL")
        else:
            found.vm_ref_count += 1
            t.did(f"vma{found.id}.vm_ref_count {found.vm_ref_count - 1}→{found.vm_ref_count}")
    yield from rcu_read_unlock(t, _s(fn, "rcu_read_unlock();"))
    return vma


def put_vma(t: Task, vma: VmAreaStruct, src: Src) -> Gen:
    """Drop a reference; the last one frees the VMA after a grace period
    (``call_rcu(&vma->vm_rcu, vm_area_free_rcu)``)."""
    yield t.at(src)
    k = t.machine
    k.event(t, "put_vma", vma)
    vma.vm_ref_count -= 1
    text = f"vma{vma.id}.vm_ref_count {vma.vm_ref_count + 1}→{vma.vm_ref_count}"
    if vma.vm_ref_count == 0:
        readers = set(k.rcu_readers) - {t.tid}
        if readers:
            k.rcu_callbacks.append((readers, vma))
            text += ": last reference, freed after " + ", ".join(
                f"T{r}" for r in sorted(readers)) + " leave RCU"
        else:
            vma.freed = True
            text += ": last reference, vma freed"
    t.did(text)


def find_vma(t: Task, mm: MmStruct, addr: int, src: Src | None = None) -> Gen:
    """The classic lookup, under ``mmap_lock`` (``src``: the caller's own lookup
    statement, when it walks the tree itself).  ``then`` may read the VMA found
    without saying so: the lookup reads it.  (With ``mmap_lock`` held, the VMAs
    it will read are those it would read now.)"""
    yield t.at(src or _s("find_vma", "return mt_find(&mm->mm_mt, &index, ULONG_MAX);"))
    vma = __find_vma(mm, addr)
    t.did(f"finds vma{vma.id}" if vma else f"no VMA ends above {addr:#x}")
    return vma


# --- munmap ------------------------------------------------------------------


def zap_pte_range(t: Task, mm: MmStruct, pte_pt: PageTablePage, start: int, end: int) -> Gen:
    """Clear the PTEs of one pte table under its lock.

    When the mmu_gather batch fills up, the TLB is flushed *before* the PTE lock
    is dropped (``force_flush``): this CPU then waits, lock held, for every other
    CPU to answer an IPI.
    """
    k = t.machine
    ptl = k.ptl[pte_pt.id]
    fn = "zap_pte_range"
    yield from spin_lock(t, ptl, Src("mm/memory.c", fn, "start_pte = pte_offset_map_lock("))
    yield t.at(Src("mm/memory.c", fn, "ptent = ptep_get_and_clear_full(mm, addr, pte,"))
    cleared = 0
    k.touch(max(start, pte_pt.base), min(end, pte_pt.base + pte_pt.span))
    for idx in sorted(pte_pt.entries):
        if not start <= pte_pt.address_of(idx) < end:
            continue
        e = pte_pt.get(idx)
        k.store(t, pte_pt, idx, NONE)
        cleared += 1
        if e.kind is Kind.PAGE and not e.special:
            k.free_page(t, e.target)  # page_remove_rmap(), then the page is freed
        elif e.kind is Kind.SWAP:
            k.swap.pop(e.target, None)  # free_swap_and_cache()
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
    for child, parent, idx in _linked_tables(t.machine, start, end):
        lo, hi = child.base, child.base + child.span
        if any(v.vm_start < hi and lo < v.vm_end for v in mm.mmap):
            continue  # another VMA still maps through this table
        fn, clear = _CLEAR[child.level]
        yield t.at(Src("mm/memory.c", fn, clear))
        t.machine.store(t, parent, idx, NONE)
        t.machine.touch(lo, hi)
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
    ptes = [pt for pt in t.machine.pt_pages.values()
            if pt.level == "pte" and pt.state is PtState.LINKED
            and pt.base < vma.vm_end and vma.vm_start < pt.base + pt.span]
    for pt in sorted(ptes, key=lambda p: p.base):
        yield from zap_pte_range(t, mm, pt, vma.vm_start, vma.vm_end)
    tables = yield from free_pgtables(t, mm, vma.vm_start, vma.vm_end)
    yield from tlb_finish_mmu(t, tables)


def do_munmap(t: Task, mm: MmStruct, start: int, length: int) -> Gen:
    """``munmap()``: ``__vm_munmap()`` takes ``mmap_lock`` for writing and unmaps."""
    fn = "__vm_munmap"
    if t.machine.design == "per-vma":
        from .pervma.vma import __vm_munmap

        return (yield from __vm_munmap(t, mm, start, length))
    yield from down_write(t, mm.mmap_lock, _s(fn, "if (mmap_write_lock_killable(mm))"))
    yield from __do_munmap(t, mm, start, length)
    yield from up_write(t, mm.mmap_lock, _s(fn, "mmap_write_unlock(mm);"))
    t.machine.event(t, "munmap", start, start + length)
    return 0


def __do_munmap(t: Task, mm: MmStruct, start: int, length: int) -> Gen:
    """``do_mas_munmap()``: unmap exactly one whole VMA, ``mmap_lock`` held for
    writing (mremap() calls this too).  Splitting is not modelled here."""
    if t.machine.design == "per-vma":
        from .pervma.vma import do_vmi_munmap

        return (yield from do_vmi_munmap(t, mm, start, length, unlock=False))
    vma = yield from find_vma(t, mm, start, _s("do_mas_munmap", "vma = mas_find(mas, end - 1);"))
    if vma is None or vma.vm_start >= start + length:
        return 0
    if vma.vm_start != start or vma.vm_end != start + length:
        raise NotImplementedError("the model's munmap removes whole VMAs only")
    yield from do_mas_align_munmap(t, mm, vma)
    return 0


def do_mas_align_munmap(t: Task, mm: MmStruct, vma: VmAreaStruct) -> Gen:
    """Detach the VMA inside its write section, remove it from the tree, zap
    and free its page tables, then drop the tree's reference."""
    fn = "do_mas_align_munmap"
    yield from vm_write_begin(t, vma, _s(fn, "vm_write_begin(gone);"))
    yield t.at(_s(fn, "vma_mark_detached(gone);"))
    vma.vm_detached = True
    t.did(f"vma{vma.id}.vm_detached = true")
    yield from vm_write_end(t, vma, _s(fn, "vm_write_end(gone);"))
    yield t.at(_s(fn, "mas_store_prealloc(mas, NULL);"))
    mm.mmap.remove(vma)
    t.machine.touch(vma.vm_start, vma.vm_end)
    t.did(f"vma{vma.id} leaves the maple tree")
    yield from unmap_region(t, mm, vma)
    # remove_mt() -> remove_vma() -> vm_area_free() drops the tree's reference
    yield from put_vma(t, vma, Src("kernel/fork.c", "vm_area_free", "put_vma(vma);"))




def vma_mas_store(t: Task, mm: MmStruct, vma: VmAreaStruct, src: Src) -> Gen:
    """Store a new VMA in the maple tree (a split's ``insert``, ``vma_link()``)."""
    # the tree is sorted by the VMAs' starts
    yield t.at(src)
    mm.mmap.append(vma)
    mm.mmap.sort(key=lambda v: v.vm_start)
    t.machine.touch(vma.vm_start, vma.vm_end)
    t.did(f"vma{vma.id} [{vma.vm_start:#x}, {vma.vm_end:#x}) enters the tree")
