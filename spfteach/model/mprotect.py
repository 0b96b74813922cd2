"""``mm/mprotect.c``: change a VMA's protection.

The writer side of the race "fault vs mprotect": with the VMA's count odd, the
flags and page protection change, then every existing PTE is rewritten under its
PTE lock and the TLBs flushed.  A speculative fault that read ``VM_WRITE``
before the change and installs its PTE after ``change_protection()`` passed by
would leave a writable PTE in a read-only VMA — unless ``pte_map_lock()`` sees
the count move.
"""

from __future__ import annotations

from .locking import down_write, spin_lock, spin_unlock, up_write
from .mm import vm_write_begin, vm_write_end
from .mm_types import VM_WRITE, MmStruct, flags_str, vm_get_page_prot
from .mmap import find_vma, vma_mas_store
from .pgtable import Kind, PtState
from .smp import send_ipi_and_wait
from .task import Gen, Src, Task

F = "mm/mprotect.c"


def _s(fn: str, snippet: str) -> Src:
    return Src(F, fn, snippet)


def change_pte_range(t: Task, mm: MmStruct, start: int, end: int, newflags: int) -> Gen:
    """Rewrite the PTEs of ``[start, end)`` under each table's lock."""
    k = t.machine
    fn = "change_pte_range"
    tables = sorted((pt for pt in k.pt_pages.values()
                     if pt.level == "pte" and pt.state is PtState.LINKED
                     and pt.base < end and start < pt.base + pt.span), key=lambda p: p.base)
    changed = 0
    for pt in tables:
        ptl = k.ptl[pt.id]
        lock = _s(fn, "pte = pte_offset_map_lock(vma->vm_mm, pmd, addr, &ptl);")
        yield from spin_lock(t, ptl, lock)
        yield t.at(_s(fn, "ptent = pte_modify(oldpte, newprot);"))
        n = 0
        k.touch(max(start, pt.base), min(end, pt.base + pt.span))
        for idx, e in sorted(pt.entries.items()):
            if e.kind is Kind.PAGE and start <= pt.address_of(idx) < end:
                write = e.write and bool(newflags & VM_WRITE)
                if write != e.write:
                    k.store(t, pt, idx, e.with_(write=write))
                    n += 1
        changed += n
        t.did(f"rewrites {n} PTE(s) of pt{pt.id}")
        yield from spin_unlock(t, ptl, _s(fn, "pte_unmap_unlock(pte - 1, ptl);"))
    return changed


def do_mprotect(t: Task, mm: MmStruct, start: int, length: int, newflags: int) -> Gen:
    """``mprotect()`` of a whole VMA, or of its tail (the VMA is split first)."""
    fn = "do_mprotect_pkey"
    yield from down_write(t, mm.mmap_lock, _s(fn, "if (mmap_write_lock_killable(current->mm))"))
    vma = yield from find_vma(t, mm, start, _s(fn, "vma = mas_find(&mas, ULONG_MAX);"))
    if vma is None or vma.vm_end != start + length or start < vma.vm_start:
        raise NotImplementedError("the model's mprotect changes a whole VMA or its tail")
    if start > vma.vm_start:
        # mprotect_fixup(): split_vma(mm, vma, start, 1)
        yield from __split_vma(t, mm, vma, start)
    yield from vm_write_begin(t, vma, _s("mprotect_fixup", "vm_write_begin(vma);"))
    yield from mprotect_fixup_locked(t, mm, vma, newflags)
    return 0


def __split_vma(t: Task, mm: MmStruct, vma, addr: int) -> Gen:
    """Cut ``vma`` at ``addr`` with ``new_below``: a new VMA takes the head, the
    old one keeps the tail (mprotect_fixup() goes on with the old one).

    ``__vma_adjust()`` moves the old VMA's start inside its write section and
    stores the new head in the tree.  A speculative fault that looked the old
    VMA up just before, for an address in the head, sees the count move — or
    the bounds, if it reads them after the split.
    """
    fn = "__vma_adjust"
    k = t.machine
    yield t.at(Src("mm/mmap.c", "__split_vma", "new = vm_area_dup(vma);"))
    new = k.new_vma(vma.vm_start, addr, vma.vm_flags, vma.anon_vma, vma.vm_ops, vma.vm_policy,
                    pgoff=vma.vm_pgoff)
    t.did(f"vma{new.id} = copy of vma{vma.id}, [{new.vm_start:#x}, {new.vm_end:#x})")
    yield from vm_write_begin(t, vma,
                                    Src("mm/mmap.c", fn, "vm_write_begin(vma);"))
    yield t.at(Src("mm/mmap.c", fn, "vma->vm_start = start;"))
    old_start = vma.vm_start
    vma.vm_start = addr
    t.did(f"vma{vma.id}.vm_start {old_start:#x}→{addr:#x}")
    yield t.at(Src("mm/mmap.c", fn, "vma->vm_pgoff = pgoff;"))
    old_pgoff = vma.vm_pgoff
    vma.vm_pgoff = old_pgoff + ((addr - old_start) >> 12)
    t.did(f"vma{vma.id}.vm_pgoff {old_pgoff:#x}→{vma.vm_pgoff:#x}")
    yield from vma_mas_store(t, mm, new, Src("mm/mmap.c", fn, "vma_mas_store(insert, &mas);"))
    yield from vm_write_end(t, vma, Src("mm/mmap.c", fn, "vm_write_end(vma);"))
    return new


def mprotect_fixup_locked(t: Task, mm: MmStruct, vma, newflags: int) -> Gen:
    """The rest of ``mprotect_fixup()``, entered with the count already odd and
    ``mmap_lock`` held: flags and page protection inside the section, then the
    PTEs under their locks, the TLB flush, the unlock.  (A scenario can start a
    writer here, already inside its section.)"""
    fn = "mprotect_fixup"
    start, length = vma.vm_start, vma.vm_end - vma.vm_start
    yield t.at(_s(fn, "vma->vm_flags = newflags;"))
    old = vma.vm_flags
    vma.vm_flags = newflags
    t.did(f"vma{vma.id}.vm_flags {flags_str(old)}→{flags_str(newflags)}")
    yield t.at(Src("mm/mmap.c", "vma_set_page_prot",
                   "WRITE_ONCE(vma->vm_page_prot, vm_page_prot);"))
    oldp = vma.vm_page_prot
    vma.vm_page_prot = vm_get_page_prot(newflags)
    t.did(f"vma{vma.id}.vm_page_prot {oldp}→{vma.vm_page_prot}")
    yield from vm_write_end(t, vma, _s(fn, "vm_write_end(vma);"))
    # change_protection(): every PTE rewritten under its table's lock.  A fault
    # that validated the old flags under that lock wrote its PTE before.
    yield from change_pte_range(t, mm, vma.vm_start, vma.vm_end, newflags)
    yield from send_ipi_and_wait(
        t, "TLB-flush",
        _s("do_mprotect_pkey", "tlb_finish_mmu(&tlb);"),
        Src("arch/x86/mm/tlb.c", "native_flush_tlb_multi", "on_each_cpu_cond_mask("),
    )
    yield from up_write(t, mm.mmap_lock, _s("do_mprotect_pkey", "mmap_write_unlock(current->mm);"))
    t.machine.event(t, "mprotect", start, start + length)
    return 0
