"""``include/linux/mm.h``: the port's VMA write sections.

``vm_write_begin()``/``vm_write_end()`` bracket every change to a VMA that a
speculative fault must not miss (its range, flags, protection, anon_vma, policy,
tree membership).  They are raw sequence-count writes: the count is odd inside.
A write section also tells the ``lost-fault`` judge that the VMA's pages may
legitimately change under a running fault.
"""

from __future__ import annotations

from .mm_types import VmAreaStruct
from .seqlock import write_seqcount_begin, write_seqcount_end
from .task import Gen, Src, Task


def vm_write_begin(t: Task, vma: VmAreaStruct, src: Src) -> Gen:
    if t.machine.design == "per-vma":
        # 6.12 has no write section: the writer write-locks the VMA where it starts one
        from .pervma.writers import start_write

        yield from start_write(t, vma, src)
        return
    t.machine.touch(vma.vm_start, vma.vm_end)
    if src.function in t.machine.override.get("no vm_write in", ()):
        yield from _unbracketed(t, src)
        return
    yield from write_seqcount_begin(t, vma.vm_sequence, src)


def vm_write_end(t: Task, vma: VmAreaStruct, src: Src) -> Gen:
    if t.machine.design == "per-vma":
        return  # the VMA stays write-locked until mmap_write_unlock()
        yield  # a generator all the same
    t.machine.touch(vma.vm_start, vma.vm_end)
    if src.function in t.machine.override.get("no vm_write in", ()):
        yield from _unbracketed(t, src)
        return
    yield from write_seqcount_end(t, vma.vm_sequence, src)


def _unbracketed(t: Task, src: Src) -> Gen:
    """The grading hook (Machine.override ``"no vm_write in"``: the writers, by
    function, whose bracket an exercise removes): the step is taken, the count
    is left alone."""
    yield t.at(src)
    t.did("the bracket is removed here (an exercise): the count stays as it is")
