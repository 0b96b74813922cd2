"""What a scenario is: a named set-up of threads and an initial memory map.

A scenario builds a fresh :class:`~spfteach.model.machine.Machine` and the
threads' programs every time it is run, so runs never share state and a replay
starts from exactly the same place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..model.checks import Mutant
from ..model.errors import UsageError
from ..model.fault import X86_PF_PK, X86_PF_PROT, X86_PF_USER, X86_PF_WRITE, do_user_addr_fault
from ..model.machine import DESIGNS, Machine
from ..model.mm_types import fault_str
from ..model.mmap import do_munmap
from ..model.mprotect import do_mprotect
from ..model.task import Gen, Task
from ..sched import Program, Run

Builder = Callable[[Machine], list[tuple[Task, Program]]]


class UnknownDesign(UsageError, ValueError):
    """A design name that is not ``spf`` or ``per-vma`` (shown to the user)."""


@dataclass(frozen=True)
class Scenario:
    """A named race set-up.

    ``schedules`` are named example schedules (in the ``0*5,1*`` notation) that
    show the interesting outcomes; the explorer finds all the others.
    """

    name: str
    title: str
    teaches: str
    checks: tuple[str, ...]
    build: Builder
    ncpus: int = 2
    la57: bool = False
    tlb_batch: int = 64
    schedules: dict[str, str] = field(default_factory=dict)
    threads: tuple[str, ...] = ()
    #: the grading hooks its machines carry (``Machine.override``): empty, the model
    #: as it is; see :meth:`with_override`
    override: Mapping[str, Any] = field(default_factory=dict)
    #: the kernel's fault-path design (``Machine.design``): ``"spf"``, 6.1 with our
    #: series, or ``"per-vma"``, 6.12's per-VMA locks; see :meth:`with_design`
    design: str = "spf"

    def with_override(self, override: Mapping[str, Any]) -> Scenario:
        """The same scenario, its machines carrying grading hooks: a student's decision
        where the model makes its own (``spfteach.grading``)."""
        return replace(self, override={**self.override, **override})

    def with_design(self, design: str) -> Scenario:
        """The same race on the other kernel (``"spf"`` or ``"per-vma"``)."""
        if design not in DESIGNS:
            raise UnknownDesign(f"unknown design {design!r}: use one of {', '.join(DESIGNS)}")
        return replace(self, design=design)

    def new_run(self, mutants: Iterable[str | Mutant] = (), record: bool = True) -> Run:
        """A fresh run at the start of the scenario (``record=False``: no trace,
        as the explorer runs it)."""
        k = Machine(ncpus=self.ncpus, la57=self.la57, mutants=frozenset(mutants),
                    tlb_batch=self.tlb_batch, override=dict(self.override), design=self.design)
        programs = self.build(k)
        return Run(k, programs, describe_result=describe_result, record=record)


def describe_result(value: object) -> str:
    return fault_str(value) if isinstance(value, int) else str(value)


def mmu_error_code(k: Machine, address: int, write: bool) -> int:
    """The error code the MMU reports for a user access to ``address`` now.

    ``X86_PF_PROT`` when the walk ends in a present page (the access broke its
    protection), ``X86_PF_PK`` too when a protection key denies it, and
    ``X86_PF_WRITE`` for a write.  A scenario's faults happened just before the
    story starts, so their error codes come from the initial page tables; one
    that says otherwise (the page was mapped by another thread since) passes its
    own."""
    code = X86_PF_USER | (X86_PF_WRITE if write else 0)
    if k.mapped(address, write=False):
        code |= X86_PF_PROT
        vma = k.find_vma_at(address)
        if vma is not None and vma.vm_pkey in k.pkru_denied:
            code |= X86_PF_PK
    return code


def fault(t: Task, address: int, write: bool = True, error_code: int | None = None) -> Gen:
    """A user thread touching ``address`` (the page fault it takes)."""
    k = t.machine
    code = mmu_error_code(k, address, write) if error_code is None else error_code
    return (yield from do_user_addr_fault(t, k.mm, address, code))


def munmap(t: Task, start: int, length: int) -> Gen:
    return (yield from do_munmap(t, t.machine.mm, start, length))


def mprotect(t: Task, start: int, length: int, flags: int) -> Gen:
    return (yield from do_mprotect(t, t.machine.mm, start, length, flags))
