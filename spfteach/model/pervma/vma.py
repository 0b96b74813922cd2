"""``munmap()`` as 6.12 does it (``mm/mmap.c``, ``mm/vma.c``).

The port's munmap keeps ``mmap_lock`` for writing to the end.  6.12 write-locks and detaches
each VMA (``vms_gather_munmap_vmas()``), takes them out of the tree, and then *downgrades*
``mmap_lock`` to reading before it zaps the pages and frees the page tables
(``vms_complete_munmap_vmas()``): the downgrade ends every VMA write lock
(``vma_end_write_all()``), so a fault that found the VMA in the tree before it left can
read-lock it now, and only ``vma->detached`` tells it to look again.  The VMA itself is freed
after an RCU grace period (``vm_area_free()``), since ``lock_vma_under_rcu()`` may hold it.
"""

from __future__ import annotations

from ..mm_types import MmStruct, VmAreaStruct
from ..mmap import __find_vma, unmap_region
from ..task import Gen, Src, Task
from . import src
from .mm import vma_end_write_all, vma_mark_detached, vma_start_write

VMA_C = "mm/vma.c"


def _v(fn: str, snippet: str) -> Src:
    return src(VMA_C, fn, snippet)


def __vm_munmap(t: Task, mm: MmStruct, start: int, length: int) -> Gen:
    """``munmap()``: ``__vm_munmap(start, len, true)``; the unmap unlocks."""
    from ..locking import down_write

    yield from down_write(t, mm.mmap_lock, src("mm/mmap.c", "__vm_munmap",
                                               "if (mmap_write_lock_killable(mm))"))
    yield from do_vmi_munmap(t, mm, start, length, unlock=True)
    t.machine.event(t, "munmap", start, start + length)
    return 0


def do_vmi_munmap(t: Task, mm: MmStruct, start: int, length: int, unlock: bool) -> Gen:
    """Unmap exactly one whole VMA (the model's munmap removes whole VMAs only).  With
    ``unlock``, ``mmap_lock`` is released on the way (downgraded first)."""
    from ..locking import write_unlock

    yield t.at(_v("do_vmi_munmap", "vma = vma_find(vmi, end);"))
    vma = __find_vma(mm, start)
    if vma is None or vma.vm_start >= start + length:
        t.did(f"no VMA in [{start:#x}, {start + length:#x})")
        if unlock:
            yield from write_unlock(t, mm.mmap_lock, _v("do_vmi_munmap", "mmap_write_unlock(mm);"))
        return 0
    t.did(f"finds vma{vma.id}")
    if vma.vm_start != start or vma.vm_end != start + length:
        raise NotImplementedError("the model's munmap removes whole VMAs only")
    yield from do_vmi_align_munmap(t, mm, vma, unlock)
    return 0


def do_vmi_align_munmap(t: Task, mm: MmStruct, vma: VmAreaStruct, unlock: bool) -> Gen:
    fn = "vms_gather_munmap_vmas"
    yield from vma_start_write(t, vma, _v(fn, "vma_start_write(next);"))
    yield from vma_mark_detached(t, vma, _v(fn, "vma_mark_detached(next, true);"))
    yield t.at(_v("do_vmi_align_munmap",
                  "error = vma_iter_clear_gfp(vmi, start, end, GFP_KERNEL);"))
    mm.mmap.remove(vma)
    t.machine.touch(vma.vm_start, vma.vm_end)
    t.did(f"vma{vma.id} leaves the maple tree")
    yield from vms_complete_munmap_vmas(t, mm, vma, unlock)


def vms_complete_munmap_vmas(t: Task, mm: MmStruct, vma: VmAreaStruct, unlock: bool) -> Gen:
    fn = "vms_complete_munmap_vmas"
    if unlock:
        yield from mmap_write_downgrade(t, mm)
    # vms_clear_ptes(): "We can free page tables without write-locking mmap_lock because
    # VMAs were isolated before we downgraded mmap_lock."
    yield from unmap_region(t, mm, vma)
    # remove_vma() -> vm_area_free()
    yield from vm_area_free(t, vma)
    if unlock:
        from ..locking import up_read

        yield from up_read(t, mm.mmap_lock, _v(fn, "mmap_read_unlock(mm);"))


def mmap_write_downgrade(t: Task, mm: MmStruct) -> Gen:
    """Keep ``mmap_lock`` for reading only; every VMA write lock ends with it."""
    yield from vma_end_write_all(t, mm, "mmap_write_downgrade")
    yield t.at(src("include/linux/mmap_lock.h", "mmap_write_downgrade",
                   "downgrade_write(&mm->mmap_lock);"))
    lock = mm.mmap_lock
    lock.writer = None
    lock.readers.add(t.tid)
    t.did("downgrades mmap_lock: held for reading now")


def vm_area_free(t: Task, vma: VmAreaStruct) -> Gen:
    """Free the VMA after a grace period: a fault inside ``lock_vma_under_rcu()`` may hold a
    pointer to it."""
    yield t.at(src("kernel/fork.c", "vm_area_free", "call_rcu(&vma->vm_rcu, vm_area_free_rcu_cb);"))
    k = t.machine
    k.event(t, "put_vma", vma)  # the judge: freeing a VMA already freed
    readers = set(k.rcu_readers) - {t.tid}
    if readers:
        k.rcu_callbacks.append((readers, vma))
        t.did(f"vma{vma.id} is freed after " + ", ".join(f"T{r}" for r in sorted(readers))
              + " leave RCU")
    else:
        vma.freed = True
        t.did(f"no RCU reader: vma{vma.id} is freed")
