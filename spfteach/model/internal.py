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
    """One step: both fields are read together.

    The C reads ``vm_detached`` first and the count second, then ``smp_rmb()``
    orders what the fault reads next after them.  The model runs sequentially
    consistent, so it has no barrier step: reading both in one step is what the
    barriers guarantee.
    """
    vma = vmf.vma
    assert vma is not None
    yield t.at(caller)
    t.machine.event(t, "vma_read", vma, " in vma_has_changed()")
    detached = vma.vm_detached
    seq = vma.vm_sequence.sequence
    changed = detached or seq != vmf.sequence
    why = []
    if detached:
        why.append(f"vma{vma.id} left the tree")
    if seq != vmf.sequence:
        why.append(f"vm_sequence {vmf.sequence}→{seq}")
    # The grading hook: a student's decision replaces the expression above (see
    # Machine.override); everything this step reads is still read here.
    decide = t.machine.override.get("vma_has_changed")
    if decide is not None:
        port, changed = changed, decide(seq, vmf.sequence, detached)
        t.op.overridden = changed != port
        if changed and not why:
            why.append("the grading override says so")
    t.did(f"vma_has_changed() reads vma{vma.id}.vm_detached and vm_sequence: "
          + ("changed (" + ", ".join(why) + ")" if changed
             else f"unchanged (seq {seq}, still in the tree)" if not why
             else "unchanged, says the grading override, although " + ", ".join(why)))
    return changed
