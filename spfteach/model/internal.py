"""``mm/internal.h``: ``vma_has_changed()``.

The one question the speculative path keeps asking: is the VMA I started from
still the VMA in the tree, unchanged?  Two signs say no: it left the tree
(``RB_EMPTY_NODE``, set by the unlink in ``munmap()``), or its sequence count
moved away from the value sampled at the start (``vmf->sequence``).
"""

from __future__ import annotations

from .mm_types import VmFault
from .task import Gen, Src, Task

F = "mm/internal.h"


def vma_has_changed(t: Task, vmf: VmFault, caller: Src) -> Gen:
    """One step: both fields are read together, ordered by ``smp_rmb()``.

    The model reads them in one step; the C reads the tree node first and the
    count second, and the barrier pairs with the writers' so that a reader that
    sees the new count also sees the node cleared.
    """
    yield t.at(caller)
    vma = vmf.vma
    assert vma is not None
    if vma.freed:
        t.kernel.violate("use-after-free", f"T{t.tid} reads freed vma{vma.id} in vma_has_changed()")
    detached = vma.vm_detached
    seq = vma.vm_sequence.sequence
    changed = detached or seq != vmf.sequence
    why = []
    if detached:
        why.append(f"vma{vma.id} left the tree")
    if seq != vmf.sequence:
        why.append(f"vm_sequence {vmf.sequence}→{seq}")
    t.did(
        "vma_has_changed(): "
        + ("yes (" + ", ".join(why) + ")" if changed else f"no (seq {seq}, in tree)")
    )
    return changed
