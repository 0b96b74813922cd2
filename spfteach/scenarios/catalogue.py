"""The scenarios available so far.

Addresses are chosen so that the numbers are readable: the heap-like VMA lives
at ``0x7f0000000000`` (pgd index 254, everything below it 0), and a stack VMA
near the top of user space makes the map look like a real process's.
"""

from __future__ import annotations

from ..model.kernel import Kernel
from ..model.mm_types import VM_GROWSDOWN, VM_READ, VM_WRITE
from .base import Scenario, fault, mprotect, munmap

HEAP = 0x7F0000000000
HEAP_LEN = 0x10000  # 16 pages
STACK = 0x7FFFFFFDE000
STACK_LEN = 0x21000
#: the page the faults touch: page 1 of the heap (page 0 is already mapped, so
#: every page-table level exists and the speculative walk can reach the PTE)
ADDR = HEAP + 0x1000


def base_map(k: Kernel) -> None:
    """A two-VMA process: a populated anonymous heap and a stack."""
    k.add_vma(HEAP, HEAP + HEAP_LEN, VM_READ | VM_WRITE)
    k.populate(HEAP)
    k.add_vma(STACK, STACK + STACK_LEN, VM_READ | VM_WRITE | VM_GROWSDOWN)
    k.populate(STACK + STACK_LEN - 0x1000)


def _quiet(k: Kernel):
    base_map(k)
    t0 = k.add_task("fault")
    return [(t0, fault(t0, ADDR, write=True))]


def _vs_munmap(k: Kernel):
    base_map(k)
    t0 = k.add_task("fault")
    t1 = k.add_task("munmap")
    return [(t0, fault(t0, ADDR, write=True)), (t1, munmap(t1, HEAP, HEAP_LEN))]


def _vs_mprotect(k: Kernel):
    base_map(k)
    t0 = k.add_task("fault")
    t1 = k.add_task("mprotect")
    return [(t0, fault(t0, ADDR, write=True)), (t1, mprotect(t1, HEAP, HEAP_LEN, VM_READ))]


QUIET = Scenario(
    name="quiet",
    title="A speculative fault with nobody in the way",
    teaches="The whole speculative path, every check passing: lookup without mmap_sem, "
            "the sequence snapshot, the walk with IRQs off, validation, the PTE installed.",
    checks=("spf_seq_odd", "spf_bounds", "spf_seq_retry", "maplock_vma_changed"),
    build=_quiet,
    ncpus=1,
    schedules={"alone": "0*"},
    threads=(f"T0 write fault at {ADDR:#x}",),
)

FAULT_VS_MUNMAP = Scenario(
    name="fault-vs-munmap",
    title="A fault races munmap() of its VMA",
    teaches="munmap() detaches the VMA, zaps the PTEs, frees the page tables after an "
            "IPI. The fault keeps the VMA alive with its reference, is protected from "
            "freed page tables by IRQs off, and learns of the unmap from vma_has_changed().",
    checks=("spf_pmd_none", "maplock_vma_changed", "spf_seq_odd", "spf_no_vma"),
    build=_vs_munmap,
    schedules={
        "fault-wins": "0*,1*",
        "munmap-before-lock": "0*24,1*,0*",
        "munmap-first": "1*,0*",
    },
    threads=(f"T0 write fault at {ADDR:#x}", f"T1 munmap({HEAP:#x}, {HEAP_LEN:#x})"),
)

FAULT_VS_MPROTECT = Scenario(
    name="fault-vs-mprotect",
    title="A write fault races mprotect(PROT_READ)",
    teaches="The fault read VM_WRITE before mprotect() removed it; the sequence count "
            "tells pte_map_lock() that the flags it cached are stale, so no writable PTE "
            "lands in a read-only VMA.",
    checks=("maplock_vma_changed", "spf_seq_retry", "spf_seq_odd", "spf_write_access"),
    build=_vs_mprotect,
    schedules={
        "fault-wins": "0*,1*",
        "mprotect-before-lock": "0*24,1*,0*",
        "mprotect-first": "1*,0*",
    },
    threads=(f"T0 write fault at {ADDR:#x}", f"T1 mprotect({HEAP:#x}, {HEAP_LEN:#x}, PROT_READ)"),
)
