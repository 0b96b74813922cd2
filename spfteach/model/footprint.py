"""Footprints: the shared objects a step reads and writes.

A step is what a thread does from one announcement (an :class:`~.task.Op`) to the next. Its
footprint names every shared object that code read or wrote; two steps whose footprints do not
conflict (neither writes what the other touches) commute: either order leaves the same state.
The explorer's partial-order reduction (sleep sets) and its memoized steps rely on exactly that.
Footprints are not written by hand: :mod:`.record` records them as the step runs, every read and
write of a field declared ``state()``.

Objects are small tuples, one per piece of :meth:`.machine.Machine.objects`; a VMA's fields and
its sequence count are separate objects because the speculative fault reads the count at both
ends while a writer changes the fields in between.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .mm_types import VmAreaStruct
    from .pgtable import PageTablePage

Obj = tuple[object, ...]

MMAP_LOCK: Obj = ("mmap_lock",)
PAGE_TABLE_LOCK: Obj = ("page_table_lock",)
#: which VMAs the tree holds, in order (mm->mm_mt)
TREE: Obj = ("mm_mt",)
#: frame states, reverse maps and the next free frame (every allocation)
PAGES: Obj = ("pages",)
#: swap slots and the next free one
SWAP: Obj = ("swap",)
#: tasks inside rcu_read_lock() and the callbacks waiting for them
RCU: Obj = ("rcu",)
#: the log of address ranges writers changed (Machine.writes)
WRITES: Obj = ("writes",)
#: the id counters of page tables, VMAs, anon_vmas and policies: a step that
#: creates one of those objects writes this (its id depends on the order)
ALLOC: Obj = ("alloc",)


def vma(v: VmAreaStruct) -> Obj:
    """Every field of a VMA but its sequence count (flags, bounds, anon_vma,
    policy, reference count, detached and freed)."""
    return (VMA, v.id)


def vm_sequence(v: VmAreaStruct) -> Obj:
    return (VM_SEQUENCE, v.id)


def pt(p: PageTablePage) -> Obj:
    """A page-table page: its entries and its state (linked, unlinked, freed)."""
    return (PT, p.id)


def ptl(pt_id: int) -> Obj:
    """The split PTE lock of pte table ``pt_id``."""
    return (PTL, pt_id)


def cpu(i: int) -> Obj:
    """A CPU's IRQ flag and the IPIs pending on it."""
    return (CPU, i)


def policy(pol_id: int) -> Obj:
    return (POLICY, pol_id)


#: the kinds of objects there are one of per page table, VMA, CPU, policy
PT, VMA, VM_SEQUENCE, PTL, CPU, POLICY = "pt", "vma", "vm_sequence", "ptl", "cpu", "policy"


@dataclass(frozen=True, slots=True)
class Footprint:
    """What one step read and wrote, as recorded (:mod:`.record`); writes are reads too."""

    reads: frozenset[Obj]
    writes: frozenset[Obj]

    @staticmethod
    def of(reads: Iterable[Obj] = (), writes: Iterable[Obj] = ()) -> Footprint:
        w = frozenset(writes)
        return Footprint(frozenset(reads) | w, w)

    def conflicts(self, other: Footprint) -> bool:
        """Could the order of the two steps matter?  (One writes what the other reads or writes.)"""
        return not self.writes.isdisjoint(other.reads) or \
            not other.writes.isdisjoint(self.reads)


def order(o: Obj) -> tuple:
    """A total order on objects (their parts mix strings and numbers)."""
    return tuple((type(x).__name__, x) for x in o)


#: a step that touches no shared state (``Op.local``)
EMPTY = Footprint(frozenset(), frozenset())


def independent(a: Footprint | None, b: Footprint | None) -> bool:
    """``None`` is a step that touched an object outside the kernel's: it conflicts with
    everything."""
    return a is not None and b is not None and not a.conflicts(b)
