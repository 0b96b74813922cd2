"""``mm/memory.c`` and ``mm/internal.h`` of 6.12: the fault under the VMA lock.

``lock_vma_under_rcu()`` is the lookup without ``mmap_lock``: it walks the maple tree under RCU
(which keeps a removed VMA's memory valid, ``vm_area_free()`` waiting a grace period) and
read-locks what it found.  Then it checks what RCU alone cannot promise: that the VMA is still
in the tree, and still covers the address.  Past that, the VMA cannot change until the fault
drops the lock: the ordinary fault path runs as under ``mmap_lock``, except where it would
need the rest of the address space to hold still (``__anon_vma_prepare()`` reads the
neighbours, ``->fault()`` may sleep on I/O): there it takes ``mmap_lock`` if it can get it at
once, or gives up with ``VM_FAULT_RETRY``.
"""

from __future__ import annotations

from ..mm_types import (
    FAULT_FLAG_VMA_LOCK,
    VM_FAULT_OOM,
    VM_FAULT_RETRY,
    MmStruct,
    VmAreaStruct,
    VmFault,
)
from ..mmap import rcu_read_lock, rcu_read_unlock
from ..task import Gen, Src, Task
from . import checks as PV
from . import src
from .mm import vma_end_read, vma_start_read

MEMORY = "mm/memory.c"


def _s(fn: str, snippet: str, after: str = "") -> Src:
    return src(MEMORY, fn, snippet, after)


def lock_vma_under_rcu(t: Task, mm: MmStruct, address: int) -> Gen:
    """The VMA containing ``address``, read-locked; None: take ``mmap_lock`` instead."""
    fn = "lock_vma_under_rcu"
    k = t.machine
    yield from rcu_read_lock(t, _s(fn, "rcu_read_lock();"))
    while True:  # retry:
        yield t.at(_s(fn, "vma = mas_walk(&mas);"))
        vma = next((v for v in mm.mmap if v.contains(address)), None)
        if vma is None:
            t.did(f"no VMA contains {address:#x}")
            break  # goto inval
        t.did(f"finds vma{vma.id} [{vma.vm_start:#x}, {vma.vm_end:#x})")
        if not (yield from vma_start_read(t, vma)):
            vma = None
            break  # goto inval
        yield t.at(_s(fn, PV.VMA_LOCK_DETACHED.snippet))
        k.use_vma(t, vma)
        t.did(f"reads vma{vma.id}.detached: {'true' if vma.vm_detached else 'false'}")
        # Without it: the fault maps a page for a VMA munmap() already took out of the tree.
        if t.check(PV.VMA_LOCK_DETACHED, vma.vm_detached, "VMA_LOCK_MISS: look again"):
            yield from vma_end_read(t, vma)
            continue  # goto retry
        yield t.at(_s(fn, PV.VMA_LOCK_RANGE.snippet))
        k.use_vma(t, vma)
        outside = not vma.contains(address)
        t.did(f"reads vma{vma.id} [{vma.vm_start:#x}, {vma.vm_end:#x}): " +
              (f"{address:#x} is outside now" if outside else "still covers the address"))
        # Without it: the fault uses the bounds, flags and pgoff of a VMA that no longer
        # covers the address (a split gave that part to a new VMA, perhaps read-only).
        if t.check(PV.VMA_LOCK_RANGE, outside):
            yield from vma_end_read(t, vma)
            vma = None
            break  # goto inval_end_read
        yield from rcu_read_unlock(t, _s(fn, "rcu_read_unlock();", after="goto inval_end_read;"))
        return vma
    yield from rcu_read_unlock(t, _s(fn, "rcu_read_unlock();", after="inval:"))
    t.note("VMA_LOCK_ABORT: the fault takes mmap_lock")
    return None


def __vmf_anon_prepare(t: Task, vmf: VmFault) -> Gen:
    """``vma->anon_vma`` for a new anonymous page; under the VMA lock only with
    ``mmap_lock`` too.  Returns 0, ``VM_FAULT_RETRY`` or ``VM_FAULT_OOM``."""
    from ..locking import up_read
    from ..rmap import __anon_vma_prepare

    fn = "__vmf_anon_prepare"
    k = t.machine
    vma = vmf.vma
    assert vma is not None
    mm = k.mm
    yield t.at(_s(fn, "if (likely(vma->anon_vma))"))
    k.use_vma(t, vma)
    if vma.anon_vma is not None:
        t.did(f"vma{vma.id} has anon_vma av{vma.anon_vma}")
        return 0
    t.did(f"vma{vma.id} has no anon_vma yet")
    locked = bool(vmf.flags & FAULT_FLAG_VMA_LOCK)
    # Without it: __anon_vma_prepare() reads the neighbours with only this VMA locked.
    if t.check(PV.ANON_PREPARE_VMA_LOCK, locked):
        yield t.at(_s(fn, "if (!mmap_read_trylock(vma->vm_mm))"))
        lock = mm.mmap_lock
        if lock.writer is not None:
            t.did(f"mmap_read_trylock() fails: T{lock.writer} holds mmap_lock for writing")
            return VM_FAULT_RETRY
        lock.readers.add(t.tid)
        t.did("mmap_read_trylock() takes mmap_lock for reading")
    else:
        locked = False
    ok = yield from __anon_vma_prepare(t, vma)
    if locked:
        yield from up_read(t, mm.mmap_lock, _s(fn, "mmap_read_unlock(vma->vm_mm);"))
    return 0 if ok else VM_FAULT_OOM


def vmf_anon_prepare(t: Task, vmf: VmFault) -> Gen:
    """``mm/internal.h``: on ``VM_FAULT_RETRY`` the VMA lock is dropped here."""
    ret = yield from __vmf_anon_prepare(t, vmf)
    if ret & VM_FAULT_RETRY:
        assert vmf.vma is not None
        yield from vma_end_read(t, vmf.vma)
    return ret


def vmf_can_call_fault(t: Task, vmf: VmFault, vma: VmAreaStruct) -> Gen:
    """``->fault()`` may sleep on I/O: not under the VMA lock (the model's ``vm_ops`` have no
    ``->map_pages``).  Returns 0 or ``VM_FAULT_RETRY``."""
    fn = "vmf_can_call_fault"
    yield t.at(_s(fn, "if (vma->vm_ops->map_pages || !(vmf->flags & FAULT_FLAG_VMA_LOCK))"),
               local=True)
    if not vmf.flags & FAULT_FLAG_VMA_LOCK:
        t.did("mmap_lock is held: ->fault() may run")
        return 0
    t.did("only the VMA lock is held and there is no ->map_pages(): retry under mmap_lock")
    yield from vma_end_read(t, vma)
    return VM_FAULT_RETRY


def handle_userfault_vma_locked(t: Task, vmf: VmFault) -> Gen:
    """``handle_userfault()`` under the VMA lock: ``release_fault_lock()`` drops the VMA lock
    (not ``mmap_lock``) while user space resolves the fault."""
    yield t.at(src("fs/userfaultfd.c", "handle_userfault", "release_fault_lock(vmf);",
                   after="must_wait = userfaultfd_must_wait(ctx, vmf, reason);"))
    vma = vmf.vma
    assert vma is not None
    if vmf.ptl is not None and vmf.ptl.owner == t.tid:
        vmf.ptl.owner = None  # pte_unmap_unlock() before the call
    if t.tid not in vma.vm_lock.readers:
        from ..bug import oops

        oops(f"release_fault_lock() of {vma.vm_lock.name}, which T{t.tid} does not hold")
    vma.vm_lock.readers.discard(t.tid)
    t.did(f"releases {vma.vm_lock.name} and hands the fault to the userfaultfd monitor "
          "(VM_FAULT_RETRY)")
    return VM_FAULT_RETRY
