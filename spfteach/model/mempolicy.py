"""``mm/mempolicy.c``: which NUMA policy applies to a fault.

Only the lookup matters to the speculative path: a VMA policy if the VMA has
one, else the task's.  ``MPOL_INTERLEAVE`` makes the fault refuse to go on
speculatively, because placing an interleaved page uses the VMA's offset.
"""

from __future__ import annotations

from .mm_types import MmStruct, VmAreaStruct


def __get_vma_policy(vma: VmAreaStruct, address: int) -> str | None:
    return vma.vm_policy


def get_task_policy(mm: MmStruct) -> str:
    """The faulting task's policy (the model keeps one for all its threads)."""
    return mm.task_policy
