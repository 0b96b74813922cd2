"""The scenario catalogue: one race per entry, each a lesson of the seed.

Addresses are chosen so that the numbers are readable: the heap-like VMA lives
at ``0x7f0000000000`` (pgd index 254, everything below it 0), and a stack VMA
near the top of user space makes the map look like a real process's.  Every
fault thread touches page 1 of the heap (the second fault of a three-thread race
page 2, in the same pte table); page 0 is already mapped, so every page-table
level exists and the speculative walk can reach the PTE.

The races come in two sizes: two threads (a fault and a writer, or two faults),
then three (two faults and a writer, or a fault and two writers, on three CPUs).
"""

from __future__ import annotations

from ..model.fault import X86_PF_USER
from ..model.khugepaged import collapse_huge_page
from ..model.machine import Machine
from ..model.madvise import madvise_dontneed
from ..model.mempolicy import do_mbind
from ..model.mm_types import (
    MPOL_BIND,
    MPOL_INTERLEAVE,
    VM_GROWSDOWN,
    VM_READ,
    VM_UFFD_MISSING,
    VM_WRITE,
)
from ..model.mprotect import mprotect_fixup_locked
from ..model.mremap import move_vma
from ..model.pgtable import Entry, Kind
from ..model.userfaultfd import userfaultfd_register
from .base import Scenario, fault, mprotect, munmap

HEAP = 0x7F0000000000
HEAP_LEN = 0x10000  # 16 pages
STACK = 0x7FFFFFFDE000
STACK_LEN = 0x21000
ADDR = HEAP + 0x1000
RW = VM_READ | VM_WRITE
NEIGHBOUR = HEAP + 0x400000  # same pmd table (1 GiB), another pte table (2 MiB)


def base_map(k: Machine, heap_len: int = HEAP_LEN, anon_vma: bool = True,
             populate: bool = True) -> None:
    """A two-VMA process: an anonymous heap (page 0 mapped) and a stack."""
    k.add_vma(HEAP, HEAP + heap_len, RW, anon_vma=anon_vma)
    if populate:
        k.populate(HEAP)
    k.add_vma(STACK, STACK + STACK_LEN, RW | VM_GROWSDOWN)
    k.populate(STACK + STACK_LEN - 0x1000)


def neighbour(k: Machine, at: int = NEIGHBOUR) -> None:
    """Another mapped VMA whose page tables outlive the heap's."""
    k.add_vma(at, at + 0x10000, RW)
    k.populate(at)


def _two(k: Machine, name: str, writer, write: bool = True, address: int = ADDR):
    t0 = k.add_task("fault")
    t1 = k.add_task(name)
    return [(t0, fault(t0, address, write=write)), (t1, writer(t1))]


def _quiet(k: Machine):
    base_map(k)
    t0 = k.add_task("fault")
    return [(t0, fault(t0, ADDR, write=True))]


def _vs_munmap(k: Machine):
    base_map(k)
    return _two(k, "munmap", lambda t: munmap(t, HEAP, HEAP_LEN))


def _vs_mprotect(k: Machine):
    base_map(k)
    return _two(k, "mprotect", lambda t: mprotect(t, HEAP, HEAP_LEN, VM_READ))


def _vs_pgtable_free(k: Machine):
    base_map(k)
    neighbour(k)
    return _two(k, "munmap", lambda t: munmap(t, HEAP, HEAP_LEN))


def _vs_thp(k: Machine):
    base_map(k, heap_len=0x200000)
    return _two(k, "khugepaged", lambda t: collapse_huge_page(t, k.mm, HEAP))


def _vs_thp_v9(k: Machine):
    base_map(k, heap_len=0x200000)
    return _two(k, "khugepaged (v9)",
                lambda t: collapse_huge_page(t, k.mm, HEAP, bracket=False))


def _ipi_vs_ptl(k: Machine):
    base_map(k)
    return _two(k, "madvise", lambda t: madvise_dontneed(t, k.mm, HEAP, 0x1000))


MREMAP_DEST = NEIGHBOUR + 0x100000  # the neighbour's pte table covers it


def _vs_mremap(k: Machine):
    base_map(k)
    neighbour(k)
    return _two(k, "mremap", lambda t: move_vma(t, k.mm, HEAP, HEAP_LEN, MREMAP_DEST))


def _at_mremap_dest(k: Machine):
    base_map(k)
    neighbour(k)
    # page 0 of the heap moves to the destination's page 0: the fault is there
    return _two(k, "mremap", lambda t: move_vma(t, k.mm, HEAP, HEAP_LEN, MREMAP_DEST),
                address=MREMAP_DEST)


def _vs_mbind(k: Machine):
    base_map(k, populate=True)
    k.mm.mmap[0].vm_policy = k.new_policy(MPOL_BIND).id  # an earlier mbind(MPOL_BIND)
    return _two(k, "mbind", lambda t: do_mbind(t, k.mm, HEAP, MPOL_INTERLEAVE))


def _swap_vs_munmap(k: Machine):
    base_map(k)
    k.populate(ADDR)
    k.swap_out(ADDR)  # MADV_PAGEOUT wrote page 1 to swap
    return _two(k, "munmap", lambda t: munmap(t, HEAP, HEAP_LEN), write=False)


def _cow_vs_munmap(k: Machine):
    base_map(k)
    # an earlier read fault mapped the zero page at page 1
    k.set_entry(ADDR, "pte", Entry(Kind.PAGE, 0, write=False, special=True))
    return _two(k, "munmap", lambda t: munmap(t, HEAP, HEAP_LEN))


def _vs_split(k: Machine):
    base_map(k)
    # mprotect the heap's second half read-only: the VMA is split at HEAP+0x8000
    t0 = k.add_task("fault")
    t1 = k.add_task("mprotect-split")
    return [(t0, fault(t0, HEAP + 0x1000, write=True)),
            (t1, mprotect(t1, HEAP + 0x8000, 0x8000, VM_READ))]


def _anon_vma(k: Machine):
    base_map(k, anon_vma=False, populate=False)
    neighbour(k, HEAP + 0x10000)  # builds the tables the heap's pages will use
    t0 = k.add_task("first fault")
    t1 = k.add_task("second fault")
    return [(t0, fault(t0, HEAP + 0x1000, write=True)),
            (t1, fault(t1, HEAP + 0x2000, write=True))]


def _first_fault_vs_munmap(k: Machine):
    base_map(k, anon_vma=False, populate=False)
    neighbour(k, HEAP + 0x10000)  # builds the tables the heap's page will use
    return _two(k, "munmap", lambda t: munmap(t, HEAP, HEAP_LEN), address=HEAP + 0x1000)


def _vs_uffd(k: Machine):
    base_map(k)
    return _two(k, "uffd-register", lambda t: userfaultfd_register(t, k.mm, HEAP))


def _seq_odd(k: Machine):
    base_map(k)
    vma = k.mm.mmap[0]
    t0 = k.add_task("fault")
    t1 = k.add_task("mprotect")
    # The story starts with mprotect() already inside its section: it holds
    # mmap_lock for writing and has made the count odd.
    k.mm.mmap_lock.writer = t1.tid
    if k.design == "per-vma":
        # 6.12: mmap_write_lock() made mm_lock_seq odd, vma_start_write() copied it
        k.mm.mm_lock_seq.sequence += 1
        vma.vm_lock_seq = k.mm.mm_lock_seq.sequence
    else:
        vma.vm_sequence.sequence += 1
    return [(t0, fault(t0, ADDR, write=True)),
            (t1, mprotect_fixup_locked(t1, k.mm, vma, VM_READ))]


def _present(k: Machine, heap_len: int = HEAP_LEN) -> None:
    """The heap with page 1 mapped, its accessed bit clear: a read fault there only
    updates the entry's bits, under pte_spinlock().  (On x86 the CPU sets the
    accessed bit itself: such a fault is one that raced the fault that installed
    the PTE, or met a stale TLB entry; the model starts from the PTE found.)"""
    base_map(k, heap_len=heap_len)
    k.populate(ADDR, accessed=False)


def _present_vs(writer_name: str, writer, heap_len: int = HEAP_LEN):
    def build(k: Machine):
        _present(k, heap_len)
        t0 = k.add_task("fault")
        t1 = k.add_task(writer_name)
        # The MMU found the PTE empty (a not-present fault: the error code has
        # no X86_PF_PROT, so the x86 entry tries the speculative path); another
        # thread's fault has mapped the page since, not yet accessed.
        return [(t0, fault(t0, ADDR, write=False, error_code=X86_PF_USER)),
                (t1, writer(k, t1))]
    return build


def _read_vs_uffd(k: Machine):
    base_map(k)
    return _two(k, "uffd-register", lambda t: userfaultfd_register(t, k.mm, HEAP), write=False)


# --- three threads -------------------------------------------------------------

PAGE2 = HEAP + 0x2000  # the second fault's page: same pte table, same PTE lock


def _three(k: Machine, *threads) -> list:
    """Tasks and programs for ``(name, program_of_task)`` pairs, in order."""
    out = []
    for name, prog in threads:
        t = k.add_task(name)
        out.append((t, prog(t)))
    return out


def _two_faults_vs_munmap(k: Machine):
    base_map(k)
    neighbour(k)  # munmap() frees the heap's pte table only: a writer doing less
    return _three(k, ("fault A", lambda t: fault(t, ADDR)),
                  ("read fault B", lambda t: fault(t, PAGE2, write=False)),
                  ("munmap", lambda t: munmap(t, HEAP, HEAP_LEN)))


def _two_mprotects(k: Machine):
    base_map(k)
    return _three(k, ("fault", lambda t: fault(t, ADDR)),
                  ("mprotect RO", lambda t: mprotect(t, HEAP, HEAP_LEN, VM_READ)),
                  ("mprotect RW", lambda t: mprotect(t, HEAP, HEAP_LEN, RW)))


def _two_faults_vs_madvise(k: Machine):
    base_map(k)
    return _three(k, ("fault A", lambda t: fault(t, ADDR)),
                  ("fault B", lambda t: fault(t, PAGE2)),
                  ("madvise", lambda t: madvise_dontneed(t, k.mm, HEAP, 0x1000)))


def _two_faults_vs_thp(k: Machine):
    base_map(k, heap_len=0x200000)
    return _three(k, ("fault A", lambda t: fault(t, ADDR)),
                  ("fault B", lambda t: fault(t, PAGE2)),
                  ("khugepaged", lambda t: collapse_huge_page(t, k.mm, HEAP)))


def _single(setup, address: int = ADDR, write: bool = True):
    def build(k: Machine):
        setup(k)
        t0 = k.add_task("fault")
        return [(t0, fault(t0, address, write=write))]
    return build


def _heap_only(flags: int = RW, **kw):
    def setup(k: Machine) -> None:
        k.add_vma(HEAP, HEAP + HEAP_LEN, flags, **kw)
        neighbour(k, HEAP + 0x10000)  # page tables down to the pte level
    return setup


def _entry_at(level: str, entry: Entry, heap_len: int = HEAP_LEN, la57: bool = False):
    def setup(k: Machine) -> None:
        k.add_vma(HEAP, HEAP + heap_len, RW)
        if level:
            k.set_entry(ADDR, level, entry)
    return setup


def _pkey_denied(k: Machine) -> None:
    """Page 1 not mapped yet, in a VMA whose key PKRU denies: the MMU reports a
    not-present fault (a PK fault needs a present page), so the speculative
    path runs and must ask arch_vma_access_permitted() itself."""
    base_map(k)
    k.mm.mmap[0].vm_pkey = 5
    k.pkru_denied = frozenset({5})


def _s(name, title, teaches, checks, build, threads, schedules=None, **kw) -> Scenario:
    return Scenario(name=name, title=title, teaches=teaches, checks=tuple(checks), build=build,
                    threads=tuple(threads), schedules=schedules or {"fault-first": "0*,1*"},
                    **kw)


FAULT = f"T0 write fault at {ADDR:#x}"

CATALOGUE = (
    _s("quiet", "A speculative fault with nobody in the way",
       "The whole speculative path, every check passing: lookup without mmap_lock, the "
       "sequence snapshot, the walk with IRQs off, validation, the PTE installed.",
       ["spf_seq_odd", "spf_bounds", "spf_seq_retry", "maplock_vma_changed"], _quiet,
       [FAULT], {"alone": "0*"}, ncpus=1),
    _s("fault-vs-munmap", "A fault races munmap() of its VMA",
       "munmap() detaches the VMA, zaps the PTEs, frees the page tables after an IPI. The "
       "fault keeps the VMA alive with its reference, is protected from freed page tables "
       "by IRQs off, and learns of the unmap from vma_has_changed().",
       ["spf_get_vma_ref", "maplock_vma_changed", "spf_p4d", "irqs_on_walk"], _vs_munmap,
       [FAULT, f"T1 munmap({HEAP:#x}, {HEAP_LEN:#x})"],
       {"fault-wins": "0*,1*", "munmap-before-lock": "0*31,1*,0*", "munmap-first": "1*,0*"}),
    _s("fault-vs-mprotect", "A write fault races mprotect(PROT_READ)",
       "The fault read VM_WRITE before mprotect() removed it; the sequence count tells "
       "pte_map_lock() that the flags it cached are stale, so no writable PTE lands in a "
       "read-only VMA.",
       ["maplock_vma_changed", "maplock_vma_changed_locked", "spf_seq_retry"], _vs_mprotect,
       [FAULT, f"T1 mprotect({HEAP:#x}, {HEAP_LEN:#x}, PROT_READ)"],
       {"fault-wins": "0*,1*", "mprotect-before-lock": "0*31,1*,0*",
        "mprotect-first": "1*,0*"}),
    _s("fault-vs-pgtable-free", "The pte table is freed after the walk",
       "A neighbour keeps the pmd table alive but munmap() frees the heap's pte table. "
       "Between the walk and the PTE lock, IRQs are on: only vma_has_changed() with IRQs "
       "off makes the pmd safe to read again.",
       ["hpf_vma_changed", "maplock_vma_changed", "anon_no_pte_alloc"], _vs_pgtable_free,
       [FAULT, f"T1 munmap({HEAP:#x}, {HEAP_LEN:#x}); vma at {NEIGHBOUR:#x} stays"]),
    _s("fault-vs-thp-collapse", "khugepaged collapses the pte table into a huge page",
       "The collapse empties the pmd, copies the pages and installs a huge pmd, without "
       "touching the VMA's count: pmd_none() during the walk and pmd_same() under the lock "
       "are what notice it.",
       ["spf_pmd_none", "hpf_pmd_none", "maplock_pmd_same", "spf_pmd_trans_huge"], _vs_thp,
       [FAULT + " (2 MiB VMA)", f"T1 collapse_huge_page({HEAP:#x})"]),
    _s("ipi-vs-ptl", "A TLB-flush IPI meets a PTE lock held with IRQs off",
       "MADV_DONTNEED zaps under the PTE lock and, its batch full, waits for every CPU to "
       "answer a TLB-flush IPI before unlocking. The fault, IRQs off, cannot answer: "
       "spin_lock() would deadlock, spin_trylock() gives up and lets the IPI in.",
       ["maplock_trylock", "trylock_is_lock"], _ipi_vs_ptl,
       [FAULT, f"T1 madvise({HEAP:#x}, 4096, MADV_DONTNEED), gather batch of 1"],
       tlb_batch=1),
    _s("fault-vs-mremap", "A fault races mremap() moving its VMA",
       "mremap() moves the PTEs to the new place inside both VMAs' sequence sections, then "
       "unmaps the old range: a fault on the old address must not install a PTE there.",
       ["maplock_vma_changed", "spf_seq_retry"], _vs_mremap,
       [FAULT, f"T1 mremap({HEAP:#x} -> {NEIGHBOUR + 0x100000:#x})"]),
    _s("fault-vs-split", "mprotect() splits the VMA under the fault",
       "The fault looked up the whole heap; mprotect() of its upper half cuts the VMA: the "
       "old VMA keeps the upper half (and becomes read-only), a new one takes the lower half "
       "with the faulting address. The bounds the fault read belong to a VMA that no longer "
       "covers the address: the bounds test or the count says so.",
       ["spf_seq_retry", "maplock_vma_changed", "spf_bounds"], _vs_split,
       [f"T0 write fault at {HEAP + 0x1000:#x}",
        f"T1 mprotect({HEAP + 0x8000:#x}, 0x8000, PROT_READ)"]),
    _s("fault-vs-anon-vma", "Two first faults in a VMA without an anon_vma",
       "The first fault of a VMA must prepare its anon_vma, which needs mmap_lock: the "
       "speculative path refuses such a VMA and the classic path prepares it.",
       ["spf_no_anon_vma"], _anon_vma,
       [f"T0 write fault at {HEAP + 0x1000:#x}", f"T1 write fault at {HEAP + 0x2000:#x}"]),
    _s("first-fault-vs-munmap", "The first fault of a VMA races munmap()",
       "A VMA without an anon_vma: its first write fault must prepare one, which needs "
       "mmap_lock. The speculative path gives up on such a VMA; under per-VMA locks the fault "
       "tries mmap_lock with a trylock, and when munmap() holds it, retries under mmap_lock.",
       ["spf_no_anon_vma"], _first_fault_vs_munmap,
       [f"T0 write fault at {HEAP + 0x1000:#x} (no anon_vma yet)",
        f"T1 munmap({HEAP:#x}, {HEAP_LEN:#x})"]),
    _s("fault-vs-uffd-register", "userfaultfd registers the range under the fault",
       "The fault checked VM_UFFD_MISSING at its start; a registration after that must not "
       "make it call handle_userfault(), which drops an mmap_lock it does not hold.",
       ["spf_uffd_missing", "anon_uffd"], _vs_uffd,
       [FAULT, f"T1 UFFDIO_REGISTER({HEAP:#x})"]),
    _s("seq-odd-at-start", "The fault starts while a writer is inside its section",
       "mprotect() has already made the count odd. A snapshot taken now could be validated "
       "against the same odd value later, after the writer changed the flags.",
       ["spf_seq_odd"], _seq_odd,
       [FAULT, "T1 mprotect(PROT_READ), already inside vm_write_begin()"]),
    _s("read-fault-vs-uffd-register", "A read fault races userfaultfd registration",
       "The zero-page path of do_anonymous_page has its own userfaultfd test under the PTE "
       "lock; speculatively it must be skipped too.",
       ["anon_uffd_zero"], _read_vs_uffd,
       [f"T0 read fault at {ADDR:#x}", f"T1 UFFDIO_REGISTER({HEAP:#x})"]),
    _s("present-vs-munmap", "A fault on a mapped page races munmap()",
       "A read fault that finds its PTE already present (another thread's fault installed it "
       "first, or the TLB was stale: on x86 the CPU sets the accessed bit itself, so no "
       "fault comes for that alone) only updates the entry's bits, through pte_spinlock(): "
       "the same checks as pte_map_lock(), on the other path.",
       ["spinlock_vma_changed", "spinlock_vma_changed_locked"],
       _present_vs("munmap", lambda k, t: munmap(t, HEAP, HEAP_LEN)),
       [f"T0 read fault at {ADDR:#x} (its PTE already present)",
        f"T1 munmap({HEAP:#x}, {HEAP_LEN:#x})"]),
    _s("present-vs-thp-collapse", "A fault on a mapped page races a THP collapse",
       "pte_spinlock()'s pmd_same(): the pte table the walk found was replaced by a huge pmd "
       "with no change to the VMA.",
       ["spinlock_pmd_same"],
       _present_vs("khugepaged", lambda k, t: collapse_huge_page(t, k.mm, HEAP), 0x200000),
       [f"T0 read fault at {ADDR:#x} (present)", f"T1 collapse_huge_page({HEAP:#x})"]),
    _s("present-ipi-vs-ptl", "pte_spinlock() meets a PTE lock held across a TLB flush",
       "The trylock of pte_spinlock(): MADV_DONTNEED holds the lock and waits for this CPU "
       "to answer its IPI.",
       ["spinlock_trylock", "trylock_is_lock"],
       _present_vs("madvise", lambda k, t: madvise_dontneed(t, k.mm, HEAP, 0x1000)),
       [f"T0 read fault at {ADDR:#x} (present)",
        f"T1 madvise({HEAP:#x}, 4096, MADV_DONTNEED), batch of 1"], tlb_batch=1),
    _s("fault-at-mremap-destination", "A fault lands where mremap() is moving the PTEs to",
       "copy_vma() puts the new VMA in the tree already inside its write section, and "
       "move_ptes() fills its page tables while the count stays odd. A fault there that "
       "started anyway would validate against that same odd count, install its page, and "
       "see move_ptes() overwrite it: only the seq & 1 test at the start refuses it.",
       ["spf_seq_odd"], _at_mremap_dest,
       [f"T0 write fault at {MREMAP_DEST:#x} (the destination)",
        f"T1 mremap({HEAP:#x} -> {MREMAP_DEST:#x})"]),
    _s("fault-vs-mbind", "mbind() replaces the VMA's policy under the fault",
       "The allocator reads the VMA's own NUMA policy to place the new page, and mbind() "
       "frees the policy it replaces at once: only a fault holding mmap_lock may use it, so "
       "the speculative path refuses a VMA with a policy of its own.",
       ["spf_vma_policy"], _vs_mbind,
       [FAULT + " (vma has an MPOL_BIND policy)", f"T1 mbind({HEAP:#x}, MPOL_INTERLEAVE)"]),
    _s("swap-vs-munmap", "A fault on a swapped-out page races munmap()",
       "Swap-in reads the neighbouring PTEs and takes the PTE lock through vmf->pmd with "
       "IRQs on and validates nothing: a speculative fault would read page tables munmap() "
       "has freed. The port leaves swap-in to the classic path.",
       ["hpf_no_swap"], _swap_vs_munmap,
       [f"T0 read fault at {ADDR:#x} (swapped out)", f"T1 munmap({HEAP:#x}, {HEAP_LEN:#x})"]),
    _s("cow-vs-munmap", "A write to the zero page races munmap()",
       "Copy-on-write drops the PTE lock to allocate, then takes it again with "
       "pte_offset_map_lock() through vmf->pmd, IRQs on: a speculative fault would read "
       "a page table munmap() has freed. The port leaves copy-on-write to the classic path.",
       ["hpf_no_wp"], _cow_vs_munmap,
       [FAULT + " (the zero page is mapped there)", f"T1 munmap({HEAP:#x}, {HEAP_LEN:#x})"]),
    _s("fault-vs-thp-collapse-v9", "The seed's khugepaged: a collapse that leaves the count alone",
       "In v9, collapse_huge_page() did not touch the VMA's sequence count; only the pmd "
       "tests told a fault that its pte table was going away: pmd_none() in the walk and "
       "in handle_pte_fault(), pmd_same() in the lock helpers. (The port brackets the "
       "collapse with vm_write_begin/end.)",
       ["maplock_pmd_same", "hpf_pmd_none"], _vs_thp_v9,
       [FAULT + " (2 MiB VMA)", f"T1 collapse_huge_page({HEAP:#x}) as in v9"]),
    # --- three threads: two faults and a writer, or a fault and two writers ---
    _s("two-faults-vs-munmap", "Two faults and munmap(): the flush waits for every walker",
       "munmap() unlinks the heap's pte table, then tlb_finish_mmu() sends one TLB-flush "
       "IPI to every other CPU and frees the table only when all have answered. With two "
       "faults walking, IRQs off, it stays pending on both CPUs: each local_irq_enable() "
       "answers for its own CPU only, and the table outlives the last walker. Each fault "
       "holds a reference from get_vma() (vm_ref_count reaches 3), so the last put_vma() "
       "may be a fault's; if the other fault found the VMA in the tree before munmap() "
       "removed it and is still inside rcu_read_lock(), the free waits for it to leave "
       "(call_rcu()), and its atomic_inc_not_zero() refuses the dying VMA: vma = NULL.",
       ["spf_seq_retry", "spf_pmd_none", "spf_no_vma", "spf_get_vma_ref", "spf_put_vma",
        "irqs_on_walk"], _two_faults_vs_munmap,
       [FAULT, f"T1 read fault at {PAGE2:#x}",
        f"T2 munmap({HEAP:#x}, {HEAP_LEN:#x}); vma at {NEIGHBOUR:#x} stays"],
       {"ipi-waits-for-both": "0*20,1*20,2*,0*2,1*2,2*",
        "last-fault-frees-vma": "0*3,1*5,2*,1*,0*",
        "faults-first": "0*,1*,2*"}, ncpus=3),
    _s("fault-vs-two-mprotects", "Two mprotect()s under one fault: the count never comes back",
       "mprotect(PROT_READ), then mprotect(PROT_READ|PROT_WRITE): the two writers take "
       "mmap_lock for writing one after the other, but the fault holds no lock and can span "
       "both. When pte_map_lock() validates, vm_flags and vm_page_prot are again exactly "
       "what the fault cached, yet vm_sequence went 0→2→4: a count only grows, so two write "
       "sections cannot bring it back to the snapshot (no ABA), and vma_has_changed() sends "
       "the fault to the classic path. A fault that retries between the two calls meets "
       "the read-only VMA: SIGSEGV, although the heap is writable before and after.",
       ["maplock_vma_changed", "spf_seq_retry"], _two_mprotects,
       [FAULT, f"T1 mprotect({HEAP:#x}, {HEAP_LEN:#x}, PROT_READ)",
        f"T2 mprotect({HEAP:#x}, {HEAP_LEN:#x}, PROT_READ|PROT_WRITE)"],
       {"both-under-the-fault": "0*33,1*,2*,0*",
        "retry-between-the-writers": "0*10,1*,0*,2*",
        "fault-first": "0*,1*,2*"}, ncpus=3),
    _s("two-faults-vs-madvise", "Two faults and a PTE lock held across a TLB flush",
       "MADV_DONTNEED holds mmap_lock only for reading and leaves the VMA's count alone; "
       "with its gather batch full it flushes the TLB while still holding the PTE lock, and "
       "waits for every other CPU to answer. Two faults with IRQs off must both answer; "
       "vma_has_changed() sees nothing, so each meets the busy lock at spin_trylock() and "
       "gives up. The first to give up turns its IRQs on, answers, and takes the classic "
       "path (mmap_lock for reading is shared with madvise()) into pte_offset_map_lock(), "
       "where it waits behind madvise(), which still waits for the other CPU: a wait chain "
       "across three CPUs. It ends when that CPU turns its IRQs back on, at the end of its "
       "walk or because its trylock fails too; spinning there, IRQs off, it would never "
       "end. A CPU whose IRQs are on when the IPI is sent answers at once.",
       ["maplock_trylock", "trylock_is_lock"], _two_faults_vs_madvise,
       [FAULT, f"T1 write fault at {PAGE2:#x}",
        f"T2 madvise({HEAP:#x}, 4096, MADV_DONTNEED), gather batch of 1"],
       {"wait-chain": "0*34,1*19,2*,0*,1*,2*",
        "one-cpu-answers-at-once": "0*34,2*,0*,2*,1*"}, ncpus=3, tlb_batch=1),
    _s("two-faults-vs-thp-collapse", "Two faults and a THP collapse: one page copied, one "
       "fault refaults",
       "collapse_huge_page() empties the pmd and, holding the pmd lock, waits for both "
       "faulting CPUs to answer pmdp_collapse_flush()'s IPI; then it takes the pte table's "
       "lock, so a fault that validated under that lock first finishes, and its page is "
       "copied into the huge page with the others. A fault that comes later finds the pmd "
       "empty (pmd_none() in the walk) or huge (pmd_trans_huge()), retries, and the "
       "classic path finds the huge page already mapping its address: "
       "huge_pmd_set_accessed(), no new page.",
       ["spf_pmd_none", "spf_pmd_trans_huge"], _two_faults_vs_thp,
       [FAULT + " (2 MiB VMA)", f"T1 write fault at {PAGE2:#x}",
        f"T2 collapse_huge_page({HEAP:#x})"],
       {"ipi-waits-for-both": "0*19,1*19,2*,0*3,1*3,2*",
        "one-copied-one-refaults": "0*39,2*6,0*,2*,1*",
        "faults-first": "0*,1*,2*"}, ncpus=3),
)

#: One fault alone, in a set-up where one check of the speculative path must
#: fire: these show what each configuration check protects (run them with a
#: mutant to see it go wrong).
CONFIGS = (
    _s("alone-in-a-hole", "A fault where no VMA is", "No VMA at or above the address: the "
       "lookup returns nothing and the fault must not go on.", ["spf_no_vma"],
       _single(lambda k: base_map(k), 0x7FFFFFFFF000), ["T0 write fault above every VMA"],
       {"alone": "0*"}, ncpus=1),
    _s("alone-file-vma", "A fault in a file-backed VMA", "vm_ops belong to a file system "
       "that expects mmap_lock: the speculative path leaves them to the classic one.",
       ["spf_vm_ops", "hpf_no_do_fault"], _single(_heap_only(vm_ops="ext4_file_vm_ops")),
       [FAULT + " (vm_ops set)"], {"alone": "0*"}, ncpus=1),
    _s("alone-uffd-registered", "A fault in a userfaultfd-registered VMA", "A registered "
       "range's missing pages belong to the monitor: the fault must hand over, which only "
       "the classic path can.", ["spf_uffd_missing"],
       _single(_heap_only(RW | VM_UFFD_MISSING)), [FAULT + " (VM_UFFD_MISSING)"],
       {"alone": "0*"}, ncpus=1),
    _s("alone-read-only", "A write fault in a read-only VMA", "VM_WRITE is missing: the "
       "fault is a SIGSEGV, whoever handles it.", ["spf_write_access"],
       _single(_heap_only(VM_READ)), [FAULT + " (VM_READ only)"], {"alone": "0*"}, ncpus=1),
    _s("alone-prot-none", "A read fault in a PROT_NONE VMA", "No access at all: SIGSEGV.",
       ["spf_read_access"], _single(_heap_only(0), write=False),
       [f"T0 read fault at {ADDR:#x} (PROT_NONE)"], {"alone": "0*"}, ncpus=1),
    _s("alone-stack", "A fault in a stack VMA", "VM_GROWSDOWN: refused as unsupported.",
       ["spf_grows"], _single(lambda k: base_map(k), STACK + 0x1000),
       [f"T0 write fault at {STACK + 0x1000:#x} (stack)"], {"alone": "0*"}, ncpus=1),
    _s("alone-pkey-denied", "A fault on a page its protection key forbids",
       "The PTE is there, but PKRU denies the key: no fault handler may call that a "
       "success, or the access faults again forever.", ["spf_arch_access"],
       _single(_pkey_denied, write=False), [f"T0 read fault at {ADDR:#x} (pkey 5 denied)"],
       {"alone": "0*"}, ncpus=1),
    _s("alone-interleave", "A fault in a VMA with MPOL_INTERLEAVE", "Interleaved placement "
       "is left to the classic path.", ["spf_mpol_interleave"],
       _single(lambda k: (_heap_only()(k), setattr(k.mm, "task_policy", MPOL_INTERLEAVE))),
       [FAULT + " (task policy MPOL_INTERLEAVE)"],
       {"alone": "0*"}, ncpus=1),
    _s("alone-empty-pgd", "A fault whose pgd entry is empty (5-level paging)",
       "With LA57 the pgd is a real level: an empty entry means tables must be allocated.",
       ["spf_pgd"], _single(_entry_at("", Entry())), [FAULT + " (LA57)"], {"alone": "0*"},
       ncpus=1, la57=True),
    _s("alone-empty-p4d", "A fault whose p4d entry is empty",
       "Nothing mapped in this 512 GiB region yet: the classic path allocates the tables.",
       ["spf_p4d"], _single(_entry_at("", Entry())), [FAULT], {"alone": "0*"}, ncpus=1),
    _s("alone-empty-pud", "A fault whose pud entry is empty",
       "The region's pud table exists, our entry does not.", ["spf_pud"],
       _single(lambda k: (k.add_vma(HEAP, HEAP + HEAP_LEN, RW),
                          neighbour(k, HEAP + 0x40000000))), [FAULT], {"alone": "0*"},
       ncpus=1),
    _s("alone-huge-pud", "A fault under a 1 GiB huge pud", "No pmd level to walk.",
       ["spf_pud_trans_huge"],
       _single(lambda k: (k.add_vma(HEAP, HEAP + 0x40000000, RW),
                          k.populate_huge(HEAP, "pud"))),
       [FAULT + " (1 GiB page)"], {"alone": "0*"}, ncpus=1),
    _s("alone-devmap-pmd", "A fault under a device-mapped pmd", "A ZONE_DEVICE huge "
       "mapping: no pte table.", ["spf_pmd_devmap"],
       _single(_entry_at("pmd", Entry(Kind.DEVMAP, 0x800, write=True), 0x200000)),
       [FAULT + " (devmap pmd)"], {"alone": "0*"}, ncpus=1),
    _s("alone-migrating-pmd", "A fault under a huge pmd being migrated", "A swap/migration "
       "pmd is not a table.", ["spf_pmd_swap"],
       _single(_entry_at("pmd", Entry(Kind.SWAP, 7), 0x200000)),
       [FAULT + " (migration pmd)"], {"alone": "0*"}, ncpus=1),
)
