"""Small scenarios, cheap enough for a brute-force enumeration of every schedule.

Each pairs one speculative fault with a writer of one or two steps that hits a
different check.  They exist to test the explorer's reduction against brute
force, not to teach.
"""

from __future__ import annotations

from spfteach.model.locking import spin_lock, spin_unlock
from spfteach.model.mm_types import VM_READ
from spfteach.model.pgtable import NONE
from spfteach.model.seqlock import write_seqcount_begin, write_seqcount_end
from spfteach.model.task import Src
from spfteach.scenarios.base import Scenario, fault
from spfteach.scenarios.catalogue import ADDR, base_map

S = Src("tests", "writer", "x")


def _pmd_clear(t):
    k = t.machine
    yield t.at(S)
    k.table_for(ADDR, "pmd", create=False).set(0, NONE)
    k.touch(ADDR & ~0x1FFFFF, (ADDR & ~0x1FFFFF) + 0x200000)
    t.did("clears the pmd")


def _ptl_holder(t):
    k = t.machine
    ptl = k.ptl[k.table_for(ADDR, "pte", create=False).id]
    yield from spin_lock(t, ptl, S)
    yield from spin_unlock(t, ptl, S)


def _protect(t):
    """Begin the section and drop VM_WRITE in one step; leave it in the next."""
    vma = t.machine.mm.mmap[0]
    yield t.at(S)
    vma.vm_sequence.sequence += 1
    vma.vm_flags = VM_READ
    t.did("count odd, VM_WRITE removed")
    yield from write_seqcount_end(t, vma.vm_sequence, S)


def _detach(t):
    """Enter the section, then take the VMA out of the tree (as munmap() starts)."""
    k = t.machine
    vma = k.mm.mmap[0]
    yield from write_seqcount_begin(t, vma.vm_sequence, S)
    yield t.at(S)
    k.mm.mmap.remove(vma)
    vma.vm_detached = True
    t.did("vma leaves the tree")


def _build(writer):
    def build(k):
        base_map(k)
        t0 = k.add_task("fault")
        t1 = k.add_task("writer")
        return [(t0, fault(t0, ADDR, write=True)), (t1, writer(t1))]
    return build


SMALL = [
    Scenario("small-pmd-clear", "", "", (), _build(_pmd_clear)),
    Scenario("small-ptl-holder", "", "", (), _build(_ptl_holder)),
    Scenario("small-protect", "", "", (), _build(_protect)),
    Scenario("small-detach", "", "", (), _build(_detach)),
]
