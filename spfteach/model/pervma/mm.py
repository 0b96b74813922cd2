"""``include/linux/mm.h`` and ``include/linux/mmap_lock.h`` of 6.12: the VMA lock.

A VMA is *write-locked* while its ``vm_lock_seq`` equals the mm's ``mm_lock_seq``: the writer,
which holds ``mmap_lock`` for writing, copies the sequence into the VMA (``vma_start_write()``),
and every VMA it so locked is released at once when ``mmap_write_unlock()`` moves the sequence on
(``vma_end_write_all()``).  In Debian's 6.12.118 ``mm_lock_seq`` is a sequence count:
``mmap_write_lock()`` makes it odd, ``vma_end_write_all()`` even again.  The rwsem
``vma->vm_lock->lock`` is held for reading by each fault that uses the VMA; the writer takes it
for writing only for an instant, to wait until the readers already inside have left.
"""

from __future__ import annotations

from ..bug import oops
from ..locking import down_write, up_write
from ..mm_types import MmStruct, VmAreaStruct
from ..task import Gen, Src, Task
from . import checks as PV
from . import src

MM_H = "include/linux/mm.h"
MMAP_LOCK_H = "include/linux/mmap_lock.h"


def _h(fn: str, snippet: str, after: str = "") -> Src:
    return src(MM_H, fn, snippet, after)


def vma_start_read(t: Task, vma: VmAreaStruct) -> Gen:
    """Read-lock ``vma`` unless a writer holds it; never waits.  True: locked."""
    fn = "vma_start_read"
    k = t.machine
    mm = k.mm
    yield t.at(_h(fn, PV.VMA_LOCK_EARLY_SEQ.snippet))
    k.use_vma(t, vma)
    seq, now = vma.vm_lock_seq, mm.mm_lock_seq.sequence
    t.did(f"reads vma{vma.id}.vm_lock_seq = {seq}, mm_lock_seq = {now}"
          + (": a writer holds the VMA" if seq == now else ""))
    # Without it: nothing; the comparison after the trylock refuses the same VMA.
    if t.check(PV.VMA_LOCK_EARLY_SEQ, seq == now):
        return False
    yield t.at(_h(fn, "if (unlikely(down_read_trylock(&vma->vm_lock->lock) == 0))"))
    lock = vma.vm_lock
    if lock.writer is not None:
        t.did(f"trylock fails: T{lock.writer} holds {lock.name} for writing (vma_start_write())")
        return False
    lock.readers.add(t.tid)
    t.did(f"trylock takes {lock.name} for reading")
    yield t.at(_h(fn, PV.VMA_LOCK_SEQ.snippet))
    seq, now = vma.vm_lock_seq, mm.mm_lock_seq.sequence
    t.did(f"re-reads vma{vma.id}.vm_lock_seq = {seq}, mm_lock_seq = {now}"
          + (": write-locked since the first look" if seq == now else ""))
    # Without it: a writer that locked the VMA between the first look and the trylock
    # (it held vm_lock only for an instant) changes the VMA beside this fault.
    if t.check(PV.VMA_LOCK_SEQ, seq == now):
        yield t.at(_h(fn, "up_read(&vma->vm_lock->lock);", after=PV.VMA_LOCK_SEQ.snippet))
        lock.readers.discard(t.tid)
        t.did(f"releases {lock.name}: the VMA is write-locked")
        return False
    return True


def removed(t: Task, call: Src) -> bool:
    """The grading hook (Machine.override ``"no vma_start_write in"``: the writers, by the
    function of their call, whose ``vma_start_write()`` an exercise removes, and with it the
    assertion that wants it, compiled out without ``CONFIG_DEBUG_VM``)."""
    return call.function in t.machine.override.get("no vma_start_write in", ())


def vma_end_read(t: Task, vma: VmAreaStruct) -> Gen:
    """Drop the read lock.  (The C brackets ``up_read()`` with ``rcu_read_lock()`` so that the
    VMA outlives the wake-up inside ``up_read()``; the model's ``up_read()`` is one step and
    wakes nobody, so it takes no RCU section here.)"""
    yield t.at(_h("vma_end_read", "up_read(&vma->vm_lock->lock);"))
    lock = vma.vm_lock
    if t.tid not in lock.readers:
        oops(f"vma_end_read() of {lock.name}, which T{t.tid} does not hold: DEBUG_RWSEMS "
             "warns, and the count goes negative")
    lock.readers.discard(t.tid)
    t.did(f"releases {lock.name} (read)")


def vma_start_write(t: Task, vma: VmAreaStruct, call: Src) -> Gen:
    """Write-lock ``vma`` until ``mmap_lock`` is dropped: wait for its readers, then copy
    ``mm_lock_seq`` into it.  ``call``: the writer's own ``vma_start_write(...)`` line."""
    k = t.machine
    mm = k.mm
    if k.mutated(PV.NO_VMA_START_WRITE):
        yield t.at(call)
        t.did("(mutant) no vma_start_write(): readers keep the VMA")
        return
    if removed(t, call):
        yield t.at(call)
        t.did("vma_start_write() is removed here (an exercise): readers keep the VMA")
        return
    # __is_vma_write_locked(), inlined at the call
    yield t.at(call)
    k.use_vma(t, vma)
    if mm.mmap_lock.writer != t.tid:
        oops("vma_start_write() without mmap_lock held for writing: "
             "mmap_assert_write_locked() in __is_vma_write_locked()")
    now = mm.mm_lock_seq.sequence
    if vma.vm_lock_seq == now:
        t.did(f"vma{vma.id} is already write-locked (vm_lock_seq = mm_lock_seq = {now})")
        return
    t.did(f"vma{vma.id}.vm_lock_seq {vma.vm_lock_seq} != mm_lock_seq {now}: lock it")
    yield from down_write(t, vma.vm_lock, _h("vma_start_write", "down_write(&vma->vm_lock->lock);"))
    yield t.at(_h("vma_start_write", "WRITE_ONCE(vma->vm_lock_seq, mm_lock_seq);"))
    vma.vm_lock_seq = now
    k.touch(vma.vm_start, vma.vm_end)
    t.did(f"vma{vma.id}.vm_lock_seq = {now}: write-locked until mmap_write_unlock()")
    yield from up_write(t, vma.vm_lock, _h("vma_start_write", "up_write(&vma->vm_lock->lock);"))


def vma_mark_detached(t: Task, vma: VmAreaStruct, call: Src) -> Gen:
    """``vma->detached = true``, which ``vma_assert_write_locked()`` wants write-locked."""
    yield t.at(call)
    k = t.machine
    if vma.vm_lock_seq != k.mm.mm_lock_seq.sequence and not removed(t, call):
        oops(f"vma_mark_detached() on vma{vma.id}, which is not write-locked: "
             "VM_BUG_ON_VMA() in vma_assert_write_locked()")
    vma.vm_detached = True
    k.touch(vma.vm_start, vma.vm_end)
    t.did(f"vma{vma.id}.detached = true")


def mm_lock_seqcount_begin(t: Task, mm: MmStruct, caller: str) -> Gen:
    """The second half of ``mmap_write_lock()`` (``caller``: which variant): the sequence
    goes odd, and no VMA is write-locked yet."""
    yield t.at(src(MMAP_LOCK_H, caller, "mm_lock_seqcount_begin(mm);"))
    mm.mm_lock_seq.sequence += 1
    t.did(f"mm_lock_seq {mm.mm_lock_seq.sequence - 1}→{mm.mm_lock_seq.sequence}")


def vma_end_write_all(t: Task, mm: MmStruct, caller: str) -> Gen:
    """Release every VMA this writer locked: the sequence moves on, so no VMA's
    ``vm_lock_seq`` equals it any more (``caller``: unlock or downgrade)."""
    yield t.at(src(MMAP_LOCK_H, caller, "vma_end_write_all(mm);"))
    mm.mm_lock_seq.sequence += 1
    t.did(f"mm_lock_seq {mm.mm_lock_seq.sequence - 1}→{mm.mm_lock_seq.sequence}: every VMA "
          "it write-locked is free")
