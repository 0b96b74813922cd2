"""``mm/mempolicy.c``: NUMA policies, who reads them, and ``mbind()``.

A VMA may carry a policy of its own (``vma->vm_policy``, set by ``mbind()``),
else the task's applies.  The allocator reads the VMA's policy to place every new
page (``vma_alloc_folio()`` -> ``get_vma_policy()``).  ``mbind()`` replaces it
under ``mmap_lock`` held for writing and frees the old one at once
(``mpol_put()``): only a fault that holds ``mmap_lock`` may look at it.  That is
why the speculative path refuses a VMA with a policy of its own, and tests only
the task's policy (which only the task itself changes) for ``MPOL_INTERLEAVE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import footprint as fp
from .locking import down_write, up_write
from .mm import vm_write_begin, vm_write_end
from .mm_types import MmStruct, VmAreaStruct
from .mmap import find_vma
from .record import recorded
from .state import ident, state
from .task import Gen, Src, Task

if TYPE_CHECKING:
    from .machine import Machine

F = "mm/mempolicy.c"


@recorded(lambda p: fp.policy(p.id))
@dataclass
class Mempolicy:
    """``struct mempolicy``: a mode, and a life (mbind() frees the one it replaces)."""

    id: int = ident()
    mode: str = state()
    freed: bool = state(default=False)

    def __str__(self) -> str:
        return f"pol{self.id} ({self.mode}{', freed' if self.freed else ''})"


def __get_vma_policy(k: Machine, vma: VmAreaStruct, address: int) -> str | None:
    """The VMA's own policy as text, or None: reads the pointer only."""
    if vma.vm_policy is None:
        return None
    return str(k.policies[vma.vm_policy])


def get_task_policy(mm: MmStruct) -> str:
    """The faulting task's policy mode (the model keeps one for all its threads)."""
    return mm.task_policy


def vma_alloc_folio(t: Task, vma: VmAreaStruct, address: int) -> Gen:
    """The allocation of a user page: read the VMA's policy pointer, then use it to
    pick the node.  Between the two, ``mbind()`` may replace the policy and free
    the old one: only a fault that holds ``mmap_lock`` is safe here.  Returns the
    page frame."""
    fn = "vma_alloc_folio"
    k = t.machine
    yield t.at(Src(F, fn, "pol = get_vma_policy(vma, addr);"))
    k.use_vma(t, vma)
    pid = vma.vm_policy
    t.did("reads vma->vm_policy: " + (f"pol{pid}" if pid is not None
                                       else "NULL, so the task's policy"))
    yield t.at(Src(F, fn, "if (pol->mode == MPOL_INTERLEAVE) {"))
    if pid is None:
        mode = k.mm.task_policy
    else:
        pol = k.policies[pid]
        k.event(t, "pol->mode", pol, vma)
        mode = pol.mode
    pfn = k.alloc_page()
    t.did(f"reads pol->mode: {mode}; allocates page{pfn}")
    return pfn


def vma_replace_policy(t: Task, vma: VmAreaStruct, mode: str) -> Gen:
    """Give ``vma`` a new policy inside its write section, then free the old one."""
    fn = "vma_replace_policy"
    k = t.machine
    yield t.at(Src(F, fn, "new = mpol_dup(pol);"))
    new = k.new_policy(mode)
    t.did(f"pol{new.id} = a new {mode} policy")
    yield t.at(Src(F, fn, "old = vma->vm_policy;"))
    old = vma.vm_policy
    t.did(f"reads vma{vma.id}.vm_policy: " + ("NULL" if old is None else f"pol{old}"))
    yield from vm_write_begin(t, vma, Src(F, fn, "vm_write_begin(vma);"))
    yield t.at(Src(F, fn, "vma->vm_policy = new;"))
    vma.vm_policy = new.id
    t.did(f"vma{vma.id}.vm_policy = pol{new.id}")
    yield from vm_write_end(t, vma, Src(F, fn, "vm_write_end(vma);"))
    yield t.at(Src(F, fn, "mpol_put(old);"))
    if old is not None:
        k.policies[old].freed = True
        t.did(f"frees pol{old}")
    else:
        t.did("no old policy to free")


def do_mbind(t: Task, mm: MmStruct, start: int, mode: str) -> Gen:
    """``mbind()`` of the whole VMA at ``start`` (no split in the model)."""
    fn = "do_mbind"
    yield from down_write(t, mm.mmap_lock, Src(F, fn, "mmap_write_lock(mm);"))
    vma = yield from find_vma(t, mm, start)
    assert vma is not None and vma.vm_start == start, "the model's mbind covers a whole VMA"
    yield from vma_replace_policy(t, vma, mode)
    yield from up_write(t, mm.mmap_lock, Src(F, fn, "mmap_write_unlock(mm);",
                                            after="err = mbind_range(&vmi, vma, &prev,"))
    return 0
