"""CPUs, interrupts and TLB-flush IPIs: ``kernel/smp.c``, ``arch/x86/mm/tlb.c``.

Why this is in a model of page faults: the speculative walk runs with IRQs
disabled.  A CPU with IRQs off cannot answer an inter-processor interrupt, and
both the TLB flush of ``munmap()`` and the freeing of page tables wait until
every CPU has answered one.  So while the faulting CPU keeps IRQs off, the page
tables it walks cannot be freed under it (``gup_fast()`` relies on the same).
The flip side: if that CPU then *spins* on a PTE lock held by a CPU that is
waiting for its answer, neither ever moves — hence ``spin_trylock()``.

An IPI is delivered to a CPU the moment its IRQs are on: at once if they are on
already, or as part of the ``local_irq_enable()`` that turns them back on.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import footprint as fp
from .record import recorded
from .state import ident, state
from .task import Gen, Src, Task
from .wait import OnIpi


@recorded(lambda c: fp.cpu(c.id))
@dataclass
class Cpu:
    """One CPU: its IRQ flag and the IPIs it has not yet answered."""

    id: int = ident()
    irqs_on: bool = state(default=True)
    pending: set[int] = state(default_factory=set)  # tids of waiting senders

    def snapshot(self) -> str:
        s = "irq-on" if self.irqs_on else "irq-off"
        if self.pending:
            s += " ipi-pending:" + ",".join(f"T{p}" for p in sorted(self.pending))
        return s


# ``then``: what the caller's code does after the (last) step, up to its next
# announcement (the same step).


def local_irq_disable(t: Task, src: Src) -> Gen:
    yield t.at(src)
    t.machine.cpus[t.cpu].irqs_on = False
    t.did(f"cpu{t.cpu}: IRQs off")


def local_irq_enable(t: Task, src: Src) -> Gen:
    """Also answers the IPIs pending on the CPU (clears its pending set)."""
    yield t.at(src)
    cpu = t.machine.cpus[t.cpu]
    cpu.irqs_on = True
    served = sorted(cpu.pending)
    cpu.pending.clear()
    extra = f"; answers pending IPI from {', '.join(f'T{s}' for s in served)}" if served else ""
    t.did(f"cpu{t.cpu}: IRQs on{extra}")


def send_ipi_and_wait(t: Task, what: str, send: Src, wait: Src) -> Gen:
    """``smp_call_function_many(..., wait=1)``: two steps, send then wait.

    Sending and waiting are separate steps because the interesting races live
    between them: the target may enable IRQs (and answer) or may spin on a lock
    the sender holds (and never answer).
    """
    # the send reads every other CPU's IRQ flag and may add to its pending set; the
    # wait reads every CPU's pending set
    yield t.at(send)
    cpus = t.machine.cpus
    answered, pending = [], []
    for cpu in cpus:
        if cpu.id == t.cpu:
            continue
        if cpu.irqs_on:
            answered.append(cpu.id)
        else:
            cpu.pending.add(t.tid)
            pending.append(cpu.id)
    parts = []
    if answered:
        parts.append("answered by " + ", ".join(f"cpu{c}" for c in answered))
    if pending:
        parts.append("pending on " + ", ".join(f"cpu{c} (IRQs off)" for c in pending))
    t.did(f"sends {what} IPI: " + ("; ".join(parts) or "no other CPU"))

    waiting = ", ".join(f"cpu{c}" for c in pending)
    yield t.at(wait, waits_on=OnIpi(t.tid, tuple(cpus), what, waiting))
    t.did(f"every CPU answered the {what} IPI")
