"""``mm/mprotect.c``: change a VMA's protection.

The writer side of the race "fault vs mprotect": with the VMA's count odd, the
flags and page protection change, then every existing PTE is rewritten under its
PTE lock and the TLBs flushed.  A speculative fault that read ``VM_WRITE``
before the change and installs its PTE after ``change_protection()`` passed by
would leave a writable PTE in a read-only VMA — unless ``pte_map_lock()`` sees
the count move.
"""

from __future__ import annotations

from .invariants import check_range
from .locking import down_write, spin_lock, spin_unlock, up_write
from .mm_types import VM_WRITE, MmStruct, flags_str, vm_get_page_prot
from .mmap import find_vma
from .pgtable import Entry, Kind, PtState
from .seqlock import write_seqcount_begin, write_seqcount_end
from .smp import send_ipi_and_wait
from .task import Gen, Src, Task

F = "mm/mprotect.c"


def _s(fn: str, snippet: str) -> Src:
    return Src(F, fn, snippet)


def change_pte_range(t: Task, mm: MmStruct, start: int, end: int, newflags: int) -> Gen:
    """Rewrite the PTEs of ``[start, end)`` under each table's lock."""
    k = t.kernel
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
        for idx, e in sorted(pt.entries.items()):
            if e.kind is Kind.PAGE and start <= pt.address_of(idx) < end:
                write = e.write and bool(newflags & VM_WRITE)
                if write != e.write:
                    pt.set(idx, Entry(e.kind, e.target, write, e.user, e.accessed, e.dirty,
                                      e.special))
                    k.pt_writes += 1
                    n += 1
        changed += n
        t.did(f"rewrites {n} PTE(s) of pt{pt.id}")
        yield from spin_unlock(t, ptl, _s(fn, "pte_unmap_unlock(pte - 1, ptl);"))
    return changed


def do_mprotect(t: Task, mm: MmStruct, start: int, length: int, newflags: int) -> Gen:
    """``mprotect()`` of exactly one whole VMA (``mprotect_fixup()`` without a split)."""
    yield from down_write(t, mm.mmap_sem,
                          _s("do_mprotect_pkey", "down_write(&current->mm->mmap_sem)"))
    vma = yield from find_vma(t, mm, start)
    if vma is None or vma.vm_start != start or vma.vm_end != start + length:
        raise NotImplementedError("the model's mprotect changes whole VMAs only")
    fn = "mprotect_fixup"
    yield from write_seqcount_begin(t, vma.vm_sequence, _s(fn, "vm_write_begin(vma);"))
    yield t.at(_s(fn, "WRITE_ONCE(vma->vm_flags, newflags);"))
    old = vma.vm_flags
    vma.vm_flags = newflags
    t.did(f"vma{vma.id}.vm_flags {flags_str(old)}→{flags_str(newflags)}")
    yield t.at(Src("mm/mmap.c", "vma_set_page_prot",
                   "WRITE_ONCE(vma->vm_page_prot, vm_page_prot);"))
    oldp = vma.vm_page_prot
    vma.vm_page_prot = vm_get_page_prot(newflags)
    t.did(f"vma{vma.id}.vm_page_prot {oldp}→{vma.vm_page_prot}")
    yield from change_pte_range(t, mm, vma.vm_start, vma.vm_end, newflags)
    yield from send_ipi_and_wait(
        t, "TLB-flush",
        _s("change_protection_range", "flush_tlb_range(vma, start, end);"),
        Src("arch/x86/mm/tlb.c", "native_flush_tlb_multi", "on_each_cpu_cond_mask("),
    )
    yield from write_seqcount_end(t, vma.vm_sequence, _s(fn, "vm_write_end(vma);"))
    yield from up_write(t, mm.mmap_sem,
                        _s("do_mprotect_pkey", "up_write(&current->mm->mmap_sem);"))
    check_range(t.kernel, start, start + length, f"T{t.tid}'s mprotect")
    return 0
