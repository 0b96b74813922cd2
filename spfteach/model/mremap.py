"""``mm/mremap.c``: move a VMA and its page-table entries elsewhere.

``move_vma()`` creates the new VMA, moves every PTE from the old tables to the
new ones under both PTE locks, then unmaps the old range.  Both VMAs are inside
their sequence sections while the PTEs move (the SPF series' "protect mremap()
against SPF handler"), so a speculative fault that looked up the old VMA cannot
install a PTE in the old place once its page has moved to the new one.
"""

from __future__ import annotations

from .locking import down_write, spin_lock, spin_unlock, up_write
from .mm import vm_write_begin, vm_write_end
from .mm_types import MmStruct
from .mmap import __do_munmap, find_vma, vma_mas_store
from .pgtable import NONE, PtState
from .smp import send_ipi_and_wait
from .task import Gen, Src, Task

F = "mm/mremap.c"


def _s(fn: str, snippet: str, after: str = "") -> Src:
    return Src(F, fn, snippet, after)


def _pte_table(k, address: int):
    for pt in k.pt_pages.values():
        if pt.level == "pte" and pt.state is PtState.LINKED and \
                pt.base <= address < pt.base + pt.span:
            return pt
    return None


def move_vma(t: Task, mm: MmStruct, old_addr: int, length: int, new_addr: int) -> Gen:
    """``mremap(old_addr, length, length, MREMAP_FIXED|MREMAP_MAYMOVE, new_addr)``.

    The destination's page tables must already exist (the model does not
    allocate them here): scenarios map a neighbour there.
    """
    k = t.machine
    sys = "__do_sys_mremap"  # SYSCALL_DEFINE5(mremap, ...)
    yield from down_write(t, mm.mmap_lock, _s(sys, "if (mmap_write_lock_killable(current->mm))"))
    vma = yield from find_vma(t, mm, old_addr, _s(sys, "vma = vma_lookup(mm, addr);"))
    assert vma is not None and vma.vm_start == old_addr and vma.vm_end == old_addr + length
    # copy_vma(): the new VMA enters the tree already inside its write section.
    M = "mm/mmap.c"
    yield t.at(Src(M, "copy_vma", "new_vma = vm_area_dup(vma);"))
    new = k.new_vma(new_addr, new_addr + length, vma.vm_flags, vma.anon_vma, vma.vm_ops,
                    vma.vm_policy, pgoff=vma.vm_pgoff + ((old_addr - vma.vm_start) >> 12))
    t.did(f"vma{new.id} = copy of vma{vma.id}, [{new_addr:#x}, {new_addr + length:#x})")
    yield from vm_write_begin(t, new,
                                    Src(M, "copy_vma", "vm_write_begin(new_vma);"))
    yield from vma_mas_store(t, mm, new, Src(M, "copy_vma", "if (vma_link(mm, new_vma))"))
    yield from vm_write_begin(t, vma, _s("move_vma", "vm_write_begin(vma);",
                                         after="new_vma = copy_vma(&vma, new_addr, new_len,"))
    old_pt, new_pt = _pte_table(k, old_addr), _pte_table(k, new_addr)
    if old_pt is not None:
        assert new_pt is not None, "mremap destination has no page table in the model"
        old_ptl, new_ptl = k.ptl[old_pt.id], k.ptl[new_pt.id]
        yield from spin_lock(t, old_ptl, _s("move_ptes", "old_pte = pte_offset_map_lock(mm,"))
        if new_ptl is not old_ptl:
            yield from spin_lock(t, new_ptl, _s("move_ptes", "spin_lock_nested(new_ptl,"))
        yield t.at(_s("move_ptes", "pte = ptep_get_and_clear(mm, old_addr, old_pte);"))
        moved = 0
        k.touch(old_addr, old_addr + length)
        k.touch(new_addr, new_addr + length)
        for idx, e in sorted(old_pt.entries.items()):
            addr = old_pt.address_of(idx)
            if old_addr <= addr < old_addr + length:
                k.store(t, old_pt, idx, NONE)
                dest = new_addr + (addr - old_addr)
                k.store(t, new_pt, (dest - new_pt.base) >> 12, e)  # set_pte_at(new_pte)
                moved += 1
        t.did(f"moves {moved} PTE(s) from pt{old_pt.id} to pt{new_pt.id}")
        yield from send_ipi_and_wait(
            t, "TLB-flush", _s("move_ptes", "flush_tlb_range(vma, old_end - len, old_end);"),
            Src("arch/x86/mm/tlb.c", "native_flush_tlb_multi", "on_each_cpu_cond_mask("))
        if new_ptl is not old_ptl:
            yield from spin_unlock(t, new_ptl, _s("move_ptes", "spin_unlock(new_ptl);"))
        yield from spin_unlock(t, old_ptl, _s("move_ptes", "pte_unmap_unlock(old_pte - 1,"))
    yield from vm_write_end(t, new,
                            _s("move_vma", "vm_write_end(new_vma);", after="new_addr = err;"))
    yield from vm_write_end(t, vma,
                                  _s("move_vma", "vm_write_end(vma);", after="new_addr = err;"))
    yield from __do_munmap(t, mm, old_addr, length)
    yield from up_write(t, mm.mmap_lock, _s(sys, "mmap_write_unlock(current->mm);"))
    k.event(t, "mremap", old_addr, old_addr + length, " (old range)")
    k.event(t, "mremap", new_addr, new_addr + length, " (new range)")
    return 0
