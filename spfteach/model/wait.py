"""What a blocked step waits for, declared with the step (``t.at(src, waits_on=...)``).

A step that cannot always run says what it waits on: a lock (held by whom, in which mode), the
PTE lock of whichever table a pmd points to when the step runs, or the answers to an IPI. From
the declaration the scheduler asks whether the step can run (``ready()``), and the stepper and
the traces say who holds it up (``holders()``), read from the state, never parsed back out of a
snapshot's strings. In the C these are the spin in ``spin_lock()``, the sleep in ``down_read()``
and the wait in ``smp_call_function_many_cond()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .pgtable import Kind, PageTablePage

if TYPE_CHECKING:
    from .locking import RwLock, Spinlock
    from .machine import Machine
    from .smp import Cpu


@dataclass(frozen=True, eq=False)
class OnLock:
    """A lock: ``"spin"`` (a spinlock), ``"read"`` or ``"write"`` (a reader/writer lock)."""

    lock: Spinlock | RwLock
    mode: str = "spin"

    @property
    def what(self) -> str:
        return self.lock.name

    def ready(self) -> bool:
        lock = self.lock
        if self.mode == "spin":
            return lock.owner is None  # type: ignore[union-attr]
        if self.mode == "read":
            return lock.writer is None  # type: ignore[union-attr]
        return lock.writer is None and not lock.readers  # type: ignore[union-attr]

    def holders(self) -> str:
        """Who holds the lock now (``T1``, ``T0,T2``), or ``""``."""
        lock = self.lock
        if self.mode == "spin":
            owner = lock.owner  # type: ignore[union-attr]
            return "" if owner is None else f"T{owner}"
        writer, readers = lock.writer, lock.readers  # type: ignore[union-attr]
        if writer is not None:
            return f"T{writer}"
        return ",".join(f"T{r}" for r in sorted(readers)) if self.mode == "write" else ""


@dataclass(frozen=True, eq=False)
class OnPteLock:
    """``pte_offset_map_lock()``: the lock of the pte table the pmd points to *when the
    step runs* (no table there: nothing to wait for, the step finds that out)."""

    machine: Machine
    pmd: PageTablePage
    index: int

    what = "the PTE lock"

    def _lock(self) -> Spinlock | None:
        e = self.pmd.get(self.index)
        if e.kind is not Kind.TABLE:
            return None
        return self.machine.ptl.get(e.target)

    def ready(self) -> bool:
        lock = self._lock()
        return lock is None or lock.owner is None

    def holders(self) -> str:
        lock = self._lock()
        return "" if lock is None or lock.owner is None else f"{lock.name} by T{lock.owner}"


@dataclass(frozen=True, eq=False)
class OnIpi:
    """The answers to an IPI that ``sender`` sent (a TLB flush): every CPU that had IRQs
    off when it was sent answers when it turns them on."""

    sender: int
    cpus: tuple[Cpu, ...]
    kind: str  # "TLB-flush"
    pending_at_send: str  # "cpu0"

    @property
    def what(self) -> str:
        return f"{self.kind} IPI answer from {self.pending_at_send}"

    def ready(self) -> bool:
        return not any(self.sender in c.pending for c in self.cpus)

    def holders(self) -> str:
        """The CPUs that have not answered yet."""
        return ", ".join(f"cpu{c.id}" for c in self.cpus if self.sender in c.pending)


Wait = OnLock | OnPteLock | OnIpi
