"""Locks: spinlocks with trylock, reader/writer locks and the ``mmap_lock`` rwsem.

Mirrors ``include/linux/spinlock.h``, ``rwlock.h`` and ``rwsem.h``.  A lock
operation is a step: ``spin_lock()`` on a held lock *announces* itself and the
task stays blocked (not runnable) until the lock is free — so "every thread is
blocked" is a visible deadlock instead of an endless spin.  Whether a spinning
CPU can take interrupts is decided by its IRQ flag, not by the lock: that is
exactly the trap ``spin_trylock()`` avoids in ``pte_map_lock()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .bug import oops
from .footprint import Obj
from .record import recorded
from .state import OBJ as _OBJ
from .state import ident, not_state, state
from .task import Gen, Src, Task
from .wait import OnLock


@recorded(lambda lock: lock.obj)
@dataclass
class Spinlock:
    """A spinlock with its holder's thread id (or None)."""

    name: str = ident()
    owner: int | None = state(default=None)
    #: the footprint object the lock is (:mod:`.footprint`); None: a lock outside the
    #: kernel's objects, whose steps may conflict with anything (:mod:`.record`)
    obj: Obj | None = not_state(_OBJ, default=None, compare=False)

    def free(self) -> bool:
        return self.owner is None

    def snapshot(self) -> str:
        return "free" if self.owner is None else f"T{self.owner}"


@recorded(lambda lock: lock.obj)
@dataclass
class RwLock:
    """A reader/writer lock (``rwlock_t`` or ``struct rw_semaphore``)."""

    name: str = ident()
    readers: set[int] = state(default_factory=set)
    writer: int | None = state(default=None)
    obj: Obj | None = not_state(_OBJ, default=None, compare=False)

    def snapshot(self) -> str:
        if self.writer is not None:
            return f"write:T{self.writer}"
        if self.readers:
            return "read:" + ",".join(f"T{r}" for r in sorted(self.readers))
        return "free"

    def held_by(self, tid: int) -> bool:
        return self.writer == tid or tid in self.readers


def spin_lock(t: Task, lock: Spinlock, src: Src) -> Gen:
    yield t.at(src, waits_on=OnLock(lock))
    lock.owner = t.tid
    t.did(f"takes {lock.name}")


def spin_trylock(t: Task, lock: Spinlock, src: Src) -> Gen:
    """Never blocks: returns False when the lock is held."""
    yield t.at(src)
    if lock.owner is None:
        lock.owner = t.tid
        t.did(f"trylock takes {lock.name}")
        return True
    t.did(f"trylock fails: {lock.name} is held by T{lock.owner}")
    return False


def spin_unlock(t: Task, lock: Spinlock, src: Src) -> Gen:
    yield t.at(src)
    if lock.owner != t.tid:
        holder = "nobody" if lock.owner is None else f"T{lock.owner}"
        oops(f"unlocks {lock.name}, held by {holder}: DEBUG_SPINLOCK's "
             "\"wrong owner\" BUG report")
    lock.owner = None
    t.did(f"releases {lock.name}")


def _mmap_lock_check(t: Task, lock: RwLock) -> None:
    if lock.name == "mmap_lock":
        t.machine.event(t, "mmap_lock")


def read_lock(t: Task, lock: RwLock, src: Src) -> Gen:
    yield t.at(src, waits_on=OnLock(lock, "read"))
    _mmap_lock_check(t, lock)
    lock.readers.add(t.tid)
    t.did(f"takes {lock.name} for reading")


def read_unlock(t: Task, lock: RwLock, src: Src) -> Gen:
    yield t.at(src)
    lock.readers.discard(t.tid)
    t.did(f"releases {lock.name} (read)")


def write_lock(t: Task, lock: RwLock, src: Src) -> Gen:
    yield t.at(src, waits_on=OnLock(lock, "write"))
    _mmap_lock_check(t, lock)
    lock.writer = t.tid
    t.did(f"takes {lock.name} for writing")
    if _per_vma_mmap_lock(t, lock):
        from .pervma.mm import mm_lock_seqcount_begin

        caller = "mmap_write_lock_killable" if "killable" in src.snippet else "mmap_write_lock"
        yield from mm_lock_seqcount_begin(t, t.machine.mm, caller)


def write_unlock(t: Task, lock: RwLock, src: Src) -> Gen:
    if _per_vma_mmap_lock(t, lock):
        from .pervma.mm import vma_end_write_all

        yield from vma_end_write_all(t, t.machine.mm, "mmap_write_unlock")
    yield t.at(src)
    lock.writer = None
    t.did(f"releases {lock.name} (write)")


def _per_vma_mmap_lock(t: Task, lock: RwLock) -> bool:
    """6.12's ``mmap_write_lock()``/``mmap_write_unlock()`` move ``mm_lock_seq`` too
    (:mod:`.pervma.mm`)."""
    return lock.name == "mmap_lock" and t.machine.design == "per-vma"


# The rwsem and the rwlock behave alike in the model; the kernel names differ.
down_read = read_lock
up_read = read_unlock
down_write = write_lock
up_write = write_unlock
