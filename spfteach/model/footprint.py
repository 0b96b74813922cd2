"""Footprints: the shared objects a step reads and writes.

A step is what a thread does from one announcement (an :class:`~.task.Op`) to
the next.  Its footprint names every shared object that code reads or writes;
two steps whose footprints do not conflict (neither writes what the other
touches) commute: either order leaves the same state.  The explorer's
partial-order reduction (sleep sets) relies on exactly that, so a footprint
that leaves out an object makes the reduction unsound — which is why an op
that declares nothing counts as touching *everything*, and why
``tests/model/test_footprints.py`` checks every declared footprint on every state of
every scenario (the objects a step changed must be among its writes; two steps
declared independent must commute).

Objects are small tuples, one per piece of :meth:`.machine.Machine.objects`; a
VMA's fields and its sequence count are separate objects because the
speculative fault reads the count at both ends while a writer changes the
fields in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from . import record

if TYPE_CHECKING:
    from .machine import Machine
    from .mm_types import MmStruct, VmAreaStruct
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


#: Every object of a kind, including those created after the step was announced
#: (a step that scans every page table, every VMA): ``every(PT)``.
PT, VMA, VM_SEQUENCE, PTL, CPU, POLICY = "pt", "vma", "vm_sequence", "ptl", "cpu", "policy"


def every(kind: str) -> Obj:
    return (kind,)


class Use(NamedTuple):
    """Objects some code reads and writes, to add to a step's footprint.  A helper
    takes one as ``then``: what its caller does after the helper's last step, up
    to the caller's next announcement (still that step).

    A ``then`` waits in the frames of the helper until that step is announced,
    and the frames are part of the explorer's state key: so it must not depend on
    shared state that can change meanwhile (two equal states would differ by
    when it was computed).  (A tuple, so that the key can hold it.)"""

    reads: tuple[Obj, ...] = ()
    writes: tuple[Obj, ...] = ()

    def __add__(self, other: Use) -> Use:  # type: ignore[override]
        return Use(self.reads + other.reads, self.writes + other.writes)


NOTHING = Use()


def on(obj: Obj | None, then: Use = NOTHING, write: bool = True
       ) -> tuple[tuple[Obj, ...] | None, tuple[Obj, ...] | None]:
    """``(reads, writes)`` for ``Task.at`` of a step on ``obj`` (a lock, a sequence
    count: written, or only read with ``write=False``) followed by ``then``;
    ``(None, None)``, not declared, for an object outside the kernel's (None)."""
    if obj is None:
        return None, None
    if write:
        return then.reads, (obj, *then.writes)
    return (obj, *then.reads), then.writes


#: ``Machine.free_page()``: the page's state and rmap written, and a scan of every
#: page table (no entry may still map the page)
FREE_PAGE = Use((every(PT),), (PAGES,))


def store(p: PageTablePage, page: bool = False) -> Use:
    """``Machine.store()`` into ``p``: the table written; for a pte table, its PTE
    lock read (is the writer its holder?) and, when a page is installed
    (``page``), the pages (is the one it replaces still counted as mapped?)."""
    reads: tuple[Obj, ...] = ()
    if p.level == "pte":
        reads = (ptl(p.id), PAGES) if page else (ptl(p.id),)
    return Use(reads, (pt(p),))


# --- what common reads touch, as they would run now ---------------------------
#
# A footprint is declared when the step is announced, and holds for as long as
# the step waits.  These compute, from the state at the announcement, what a
# read that follows pointers will touch: use them only where what they follow
# cannot change meanwhile (the step's thread holds the lock that keeps it), and
# ``every(kind)`` elsewhere.


def path(k: Machine, address: int, level: str = "pte") -> list[Obj]:
    """The page tables a walk of ``address`` reads, from the pgd down to the table
    of ``level`` (as far as table entries lead now): ``Machine.walk()``,
    ``Machine.mapped()``, ``Machine.table_for()``."""
    out: list[Obj] = []
    with record.paused():
        levels = k.walk(address)
    for lvl in levels:
        if lvl.table is not None and not lvl.folded:
            out.append((PT, lvl.table))
        if lvl.level == level:
            break
    return out


def lookup(mm: MmStruct, stop: Callable[[VmAreaStruct], bool]) -> list[Obj]:
    """The tree and the VMAs a walk of it reads in order, up to the first VMA for
    which ``stop`` holds (every VMA in the tree if none does)."""
    out = [TREE]
    with record.paused():
        for v in mm.mmap:
            out.append(vma(v))
            if stop(v):
                break
    return out


def tree(mm: MmStruct) -> list[Obj]:
    """The tree and every VMA in it (a scan of the whole tree)."""
    with record.paused():
        return [TREE, *(vma(v) for v in mm.mmap)]


@dataclass(frozen=True, slots=True)
class Footprint:
    """What one step reads and writes (writes are reads too); ``every(kind)``
    objects are kept apart, as the kinds they cover."""

    reads: frozenset[Obj]
    writes: frozenset[Obj]
    kinds_read: frozenset[object] = frozenset()
    kinds_written: frozenset[object] = frozenset()

    @staticmethod
    def of(reads: Iterable[Obj] = (), writes: Iterable[Obj] = ()) -> Footprint:
        w = frozenset(writes)
        r = frozenset(reads) | w
        kinds_w = frozenset(o[0] for o in w if len(o) == 1 and o[0] in _KINDS)
        kinds_r = frozenset(o[0] for o in r if len(o) == 1 and o[0] in _KINDS)
        return Footprint(r, w, kinds_r, kinds_w)

    def conflicts(self, other: Footprint) -> bool:
        """Could the order of the two steps matter?  (One writes what the other
        reads or writes; ``every(kind)`` matches each object of its kind.)"""
        return _hit(self, other) or _hit(other, self)

    def reads_of(self, names: Iterable[Obj]) -> tuple[Obj, ...]:
        """The objects this step reads, in :func:`order`: those it names (held by
        the state of ``names`` or not) and, for an ``every(kind)``, each object of
        the kind among ``names`` (a state's objects)."""
        named = {o for o in self.reads if not (len(o) == 1 and o[0] in KINDS)}
        if self.kinds_read:
            named |= {o for o in names if len(o) > 1 and o[0] in self.kinds_read}
        return tuple(sorted(named, key=order))

    def covers_write(self, o: Obj) -> bool:
        """Is a change of ``o`` among the declared writes?"""
        return o in self.writes or o[0] in self.kinds_written

    def covers_read(self, o: Obj) -> bool:
        return o in self.reads or o[0] in self.kinds_read

    def missing(self, got: Footprint | None) -> list[str]:
        """What a step recorded (``got``) that this declaration of it leaves out, in words."""
        if got is None:
            return ["an object outside the kernel's"]
        out = [f"writes {o}" for o in sorted(got.writes, key=order) if not self.covers_write(o)]
        out += [f"reads {o}" for o in sorted(got.reads - got.writes, key=order)
                if not self.covers_read(o)]
        return out


#: the kinds ``every()`` takes (an object ``(kind,)`` of one of them stands for all)
KINDS = frozenset({PT, VMA, VM_SEQUENCE, PTL, CPU, POLICY})
_KINDS = KINDS


def _hit(w: Footprint, r: Footprint) -> bool:
    """Does ``w`` write something ``r`` reads?"""
    if not w.writes.isdisjoint(r.reads):
        return True
    if w.kinds_written and (not w.kinds_written.isdisjoint(r.kinds_read)
                            or any(o[0] in w.kinds_written for o in r.reads)):
        return True
    return bool(r.kinds_read) and any(o[0] in r.kinds_read for o in w.writes)


def order(o: Obj) -> tuple:
    """A total order on objects (their parts mix strings and numbers)."""
    return tuple((type(x).__name__, x) for x in o)


#: a step that touches no shared state (``Op.local``)
EMPTY = Footprint(frozenset(), frozenset())


def independent(a: Footprint | None, b: Footprint | None) -> bool:
    """``None`` is an undeclared footprint: it conflicts with everything."""
    return a is not None and b is not None and not a.conflicts(b)
