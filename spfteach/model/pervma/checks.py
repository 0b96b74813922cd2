"""The per-VMA design's checks, and its mutants.

The same kinds as the speculative path's registry (:mod:`..checks`): a *guard* makes the fault
give up (fall back to ``mmap_lock``) or try again, a *mechanism* is something done another way.
Names are this design's own; :func:`..checks.mutant` finds them too, so a run is mutated by name
whichever design it has.  The order is the fault's: ``lock_vma_under_rcu()``, then what the
fault and the writers do with the lock.
"""

from __future__ import annotations

from ..checks import Check, Mechanism, Mutant
from . import src

MM_H = "include/linux/mm.h"
MEMORY = "mm/memory.c"


def _guard(name: str, file: str, fn: str, snippet: str, reason: str, exit: str = "fallback", *,
           note: str = "", pair: tuple[str, ...] = ()) -> Check:
    return Check(name, src(file, fn, snippet), "guard", exit, reason, note, pair)


VMA_LOCK_EARLY_SEQ = _guard(
    "vma_lock_early_seq", MM_H, "vma_start_read",
    "if (READ_ONCE(vma->vm_lock_seq) == READ_ONCE(vma->vm_mm->mm_lock_seq.sequence))",
    "A writer holds the VMA (its vm_lock_seq is the mm's current mm_lock_seq): give up before "
    "the atomic trylock; the comparison after the trylock decides either way.",
    note="An early exit: without it the trylock succeeds and the comparison after it refuses "
         "the same VMA, so no scenario catches it alone.",
    pair=("vma_lock_seq",))
VMA_LOCK_SEQ = _guard(
    "vma_lock_seq", MM_H, "vma_start_read",
    "if (unlikely(vma->vm_lock_seq == raw_read_seqcount(&vma->vm_mm->mm_lock_seq))) {",
    "The VMA is write-locked: a writer that holds mmap_lock changes it, and the reader must "
    "not run beside it. Without the comparison the read lock alone is no protection: the "
    "writer holds vm_lock only for an instant, to wait for the readers already in.",
    pair=("vma_lock_early_seq",))
VMA_LOCK_DETACHED = _guard(
    "vma_lock_detached", MEMORY, "lock_vma_under_rcu", "if (vma->detached) {",
    "The VMA left the tree after mas_walk() found it (munmap() detached it and released its "
    "lock): faulting on it would map a page where no VMA is.", exit="retry")
VMA_LOCK_RANGE = _guard(
    "vma_lock_range", MEMORY, "lock_vma_under_rcu",
    "if (unlikely(address < vma->vm_start || address >= vma->vm_end))",
    "The VMA shrank (a split) between mas_walk() and the lock: the address now belongs to "
    "another VMA, with other rights.",
    note="In the catalogue's split (fault-vs-split) the old VMA keeps the read-only tail: "
         "without the check the write fault on the head is refused with SIGSEGV, a wrong "
         "signal on a legal access (the wrong-sigsegv invariant). A read fault racing the "
         "split would map the page with the tail's pgoff: not in the catalogue yet.")
ANON_PREPARE_VMA_LOCK = _guard(
    "anon_prepare_vma_lock", MEMORY, "__vmf_anon_prepare",
    "if (vmf->flags & FAULT_FLAG_VMA_LOCK) {",
    "__anon_vma_prepare() looks at the VMA's neighbours to share their anon_vma, which only "
    "mmap_lock keeps still: under the VMA lock alone the fault must take mmap_lock too "
    "(mmap_read_trylock(), else VM_FAULT_RETRY).", exit="trylock")

#: The guards, in the order a fault meets them.
CHECKS: tuple[Check, ...] = (VMA_LOCK_EARLY_SEQ, VMA_LOCK_SEQ, VMA_LOCK_DETACHED,
                             VMA_LOCK_RANGE, ANON_PREPARE_VMA_LOCK)

NO_VMA_START_WRITE = Mechanism(
    "no_vma_start_write",
    "the writers (mprotect, munmap, mremap, mbind, khugepaged, userfaultfd) change a VMA "
    "without vma_start_write()")
VMA_END_READ_EARLY = Mechanism(
    "vma_end_read_early",
    "do_user_addr_fault() calls vma_end_read() right after lock_vma_under_rcu(), before "
    "handle_mm_fault()")
RETRY_GOES_ON = Mechanism(
    "retry_goes_on",
    "do_anonymous_page() goes on after vmf_anon_prepare() returned VM_FAULT_RETRY (and "
    "dropped the VMA lock)")

#: Mechanisms that can be changed, beside the checks.
MECHANISMS: tuple[Mechanism, ...] = (NO_VMA_START_WRITE, VMA_END_READ_EARLY, RETRY_GOES_ON)

#: Every mutant of this design by name: the guards, then the mechanisms.
MUTANTS: dict[str, Mutant] = {**{c.name: c for c in CHECKS},
                              **{m.name: m for m in MECHANISMS}}

#: Mutants no race of the catalogue catches yet, and the race that would (the test holds
#: that they are indeed not caught, so that this list cannot go stale).
NOT_CAUGHT: dict[str, str] = {}
