"""The registry of the speculative path's checks, and of its mutants.

Each check is a test or a statement the speculative fault makes before it trusts
what it read without ``mmap_lock``.  Its name is stable (tests, mutants and
exercises refer to it); ``src`` is the C line; ``reason`` says in one sentence
what would go wrong without it.  Every check has a *kind*:

* ``guard`` — a test that makes the path give up: ``exit`` says how, ``abort``
  (``VM_FAULT_RETRY``: fall back to the classic path under ``mmap_lock``) or
  ``sigsegv`` (``VM_FAULT_SIGSEGV``: the access is illegal whoever looks);
* ``scope`` — a test that makes the path give up on a kind of VMA it *could*
  handle: the port keeps the seed's choice, but no race is behind it (the
  registry's note says so, and a test shows that with the test removed nothing
  goes wrong and the fault completes speculatively).  Not a guard: no mutant;
* ``step`` — a statement the path must execute (take the VMA reference, drop it,
  set the flags);
* ``branch`` — a test that picks one of two normal ways on (a new page or an
  existing PTE): not a guard, so it has no mutant.

A *mutant* is the speculative path with one guard or step switched off, or with
one mechanism changed (:class:`Mechanism`: spin instead of trylock, walk with
IRQs on).  Mutants are the objects of this registry: model code asks
``k.mutated(TRYLOCK_IS_LOCK)``, never compares names, and an unknown name is an
error where it is given (:func:`mutant`).

The order is the seed's order (patch v9 18/24,
Message-Id <1520963994-28477-19-git-send-email-ldufour@linux.vnet.ibm.com>).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UsageError
from .task import Src

#: What a check is (see the module docstring).
KINDS = ("guard", "scope", "step", "branch")


@dataclass(frozen=True)
class Check:
    """One registered check of the speculative path."""

    name: str
    src: Src
    kind: str
    exit: str
    reason: str
    #: Why no scenario catches this check's mutant on its own (empty: one does),
    #: or, for a scope test, why handling that kind of VMA would be safe.
    note: str = ""
    #: The checks that cover for this one: removing them together with it is
    #: caught (``spfteach mutants`` explores the pair; a test holds the claim).
    pair: tuple[str, ...] = ()

    @property
    def function(self) -> str:
        return self.src.function

    @property
    def snippet(self) -> str:
        return self.src.snippet

    @property
    def has_mutant(self) -> bool:
        """Guards and steps can be switched off; a branch or a scope test is not a
        check that prevents anything."""
        return self.kind in ("guard", "step")

    def describe(self) -> str:
        """What the mutant that switches this check off does, in one line."""
        return f"{self.function}() without `{self.snippet}`"

    def as_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"name": self.name, "kind": self.kind,
                                "function": self.function, "file": self.src.file}
        d.update(snippet=self.snippet, exit=self.exit, reason=self.reason)
        if self.note:
            d["note"] = self.note
        if self.pair:
            d["pair"] = list(self.pair)
        return d


@dataclass(frozen=True)
class Mechanism:
    """A mutant that is not one registered check: a mechanism done another way."""

    name: str
    description: str

    def describe(self) -> str:
        return self.description


#: What a run can be mutated by.
Mutant = Check | Mechanism

M = "mm/memory.c"
HSF = "handle_speculative_fault"
HPF = "handle_pte_fault"


def _c(kind: str, name: str, fn: str, snippet: str, exit: str, reason: str, *,
       note: str = "", pair: tuple[str, ...] = (), after: str = "", file: str = M) -> Check:
    return Check(name, Src(file, fn, snippet, after), kind, exit, reason, note, pair)


def _guard(name: str, fn: str, snippet: str, reason: str, exit: str = "abort",
           **kw) -> Check:
    return _c("guard", name, fn, snippet, exit, reason, **kw)


def _scope(name: str, fn: str, snippet: str, reason: str, **kw) -> Check:
    return _c("scope", name, fn, snippet, "abort", reason, **kw)


def _branch(name: str, fn: str, snippet: str, reason: str, **kw) -> Check:
    return _c("branch", name, fn, snippet, "branch", reason, **kw)


def _step(name: str, fn: str, snippet: str, reason: str, **kw) -> Check:
    return _c("step", name, fn, snippet, "step", reason, **kw)


SPF_FLAGS = _step(
    "spf_flags", HSF, "flags |= FAULT_FLAG_SPECULATIVE;",
    "Clearing ALLOW_RETRY, KILLABLE and INTERRUPTIBLE and setting SPECULATIVE stops every "
    "callee from dropping an mmap_lock this path never took, and tells them they run "
    "speculatively.")
SPF_NO_VMA = _guard(
    "spf_no_vma", HSF, "if (!vma)",
    "get_vma() found no VMA containing the address (or only one being freed): there is "
    "nothing to fault in; the classic path decides between stack expansion and SIGSEGV.")
SPF_SEQ_ODD = _guard(
    "spf_seq_odd", HSF, "if (seq & 1)",
    "An odd count means a writer is inside its write section: a snapshot taken now would "
    "be validated later against the same odd count, however much the writer changes "
    "meanwhile (mremap()'s new VMA stays odd while move_ptes() fills its page tables).")
SPF_VM_OPS = _guard(
    "spf_vm_ops", HSF, "if (vma->vm_ops)",
    "vm_ops belong to a file system, shmem, hugetlbfs or a driver, whose ->fault() may "
    "sleep, drop mmap_lock or expect it held: only plain anonymous memory is handled "
    "speculatively.",
    note=("Not caught alone: a VMA with vm_ops that gets past it reaches handle_pte_fault(), "
          "whose only speculative answer to a missing page of a file VMA is hpf_no_do_fault "
          "(a present PTE is only given its accessed/dirty bits, as the classic path does). "
          "Removing both is caught: vm_ops->fault() runs without mmap_lock."),
    pair=("hpf_no_do_fault",))
SPF_NO_ANON_VMA = _guard(
    "spf_no_anon_vma", HSF, "if (unlikely(!vma->anon_vma))",
    "Preparing a VMA's first anon_vma looks at its neighbours to share theirs, which "
    "needs mmap_lock: the first write fault of a VMA must take the classic path.",
    note=("Not caught alone: a write fault in such a VMA reaches do_anonymous_page(), where "
          "anon_no_anon_vma gives up before allocating, and a read fault maps the zero "
          "page, which needs no anon_vma. Removing both is caught: the page is mapped with "
          "no anon_vma (BUG_ON in __page_set_anon_rmap())."),
    pair=("anon_no_anon_vma",))
SPF_UFFD_MISSING = _guard(
    "spf_uffd_missing", HSF, "if (unlikely(vmf.vma_flags & VM_UFFD_MISSING))",
    "A userfaultfd-registered range hands missing faults to user space, which releases "
    "mmap_lock and sleeps: impossible without holding it.")
SPF_GROWS = _scope(
    "spf_grows", HSF, "if (vmf.vma_flags & VM_GROWSDOWN || vmf.vma_flags & VM_GROWSUP)",
    "A stack VMA: the seed left stacks to the classic path, because in 4.16 a stack grew "
    "under mmap_lock held for reading without telling the speculative path.",
    note=("A scope test, not a guard: in the port expand_downwards() moves vm_start and "
          "vm_pgoff inside the VMA's write section, and get_vma() only returns a VMA that "
          "contains the address, so a fault inside a stack could be handled speculatively; "
          "the port keeps the seed's choice. tests/model/test_checks_reachable.py widens it: the "
          "fault then completes speculatively, as the classic path would, with no invariant "
          "broken."))
SPF_BOUNDS = _guard(
    "spf_bounds", HSF, "if (address < READ_ONCE(vma->vm_start) ||",
    "get_vma() found a VMA containing the address, but it may have been split or shrunk "
    "before the count was sampled: the fault would go on with the bounds and page offset "
    "of a VMA that no longer covers the address (the new page's rmap index would be "
    "wrong).")
SPF_ARCH_ACCESS = _guard(
    "spf_arch_access", HSF, "if (!arch_vma_access_permitted(vma, flags & FAULT_FLAG_WRITE,",
    "Protection keys can forbid the access where vm_flags allow it: a fault that maps the "
    "page has not handled anything, the access faults again.", exit="sigsegv")
SPF_WRITE_ACCESS = _guard(
    "spf_write_access", HSF, "if (unlikely(!(vmf.vma_flags & VM_WRITE))) {",
    "A write to a VMA without VM_WRITE must not get a writable PTE.", exit="sigsegv")
SPF_READ_ACCESS = _guard(
    "spf_read_access", HSF,
    "} else if (unlikely(!(vmf.vma_flags & (VM_READ | VM_EXEC | VM_WRITE)))) {",
    "A PROT_NONE VMA allows no access at all.", exit="sigsegv")
SPF_VMA_POLICY = _guard(
    "spf_vma_policy", HSF, "if (pol) {",
    "The allocator reads the VMA's own NUMA policy to place the new page, and mbind() "
    "may replace it and free the old one at any time: only the task's policy is safe "
    "without mmap_lock. (The port's addition.)")
SPF_MPOL_INTERLEAVE = _scope(
    "spf_mpol_interleave", HSF, "if (pol && pol->mode == MPOL_INTERLEAVE) {",
    "The task interleaves its pages over the nodes: the seed refused that because a "
    "NUMA-hinting fault computes the interleave node from the VMA's offset "
    "(mpol_misplaced()).",
    note=("A scope test, not a guard: the port sends NUMA-hinting faults to the classic path "
          "anyway (spf_abort_fault_kind), and a new page's interleave node is computed from "
          "vm_start and vm_pgoff before the final check validates them; the port keeps the "
          "seed's choice. tests/model/test_checks_reachable.py widens it: the fault completes "
          "speculatively, as the classic path would, with no invariant broken."))
SPF_PGD = _guard(
    "spf_pgd", HSF, "if (pgd_none(pgdval) || unlikely(pgd_bad(pgdval))) {",
    "The speculative path never allocates page tables: one allocated after "
    "free_pgtables() passed by would leak. (Constant false with 4-level paging, where the "
    "p4d is folded into the pgd.)")
SPF_P4D = _guard(
    "spf_p4d", HSF, "if (p4d_none(p4dval) || unlikely(p4d_bad(p4dval))) {",
    "Same as the pgd: an empty or corrupt p4d entry means a classic fault must build the "
    "path.")
SPF_PUD = _guard(
    "spf_pud", HSF, "if (pud_none(pudval) || unlikely(pud_bad(pudval))) {",
    "An empty pud needs a pmd table allocated, which only the classic path may do; on x86 "
    "a 1 GiB leaf is pud_bad() too.")
SPF_PUD_TRANS_HUGE = _guard(
    "spf_pud_trans_huge", HSF, "if (unlikely(pud_trans_huge(pudval))) {",
    "A 1 GiB leaf has no pmd level to walk; huge pages are not handled speculatively.",
    note=("Dead code on x86: pud_bad() is true for a huge pud (_PAGE_PSE is not a table "
          "bit), so spf_pud refuses it first (tests/model/test_checks_reachable.py shows it). "
          "Removing both is caught: the walk follows a 1 GiB leaf as a pmd table."),
    pair=("spf_pud",))
SPF_PMD_DEVMAP = _guard(
    "spf_pmd_devmap", HSF, "if (unlikely(pmd_devmap(vmf.orig_pmd) ||",
    "A device huge mapping has no pte table and needs its driver.")
SPF_PMD_NONE = _guard(
    "spf_pmd_none", HSF, "pmd_none(vmf.orig_pmd) || pmd_trans_huge(vmf.orig_pmd) ||",
    "An empty pmd needs a pte table allocated; it may also be a THP collapse in progress, "
    "which clears the pmd before its IPI.")
SPF_PMD_TRANS_HUGE = _guard(
    "spf_pmd_trans_huge", HSF, "pmd_none(vmf.orig_pmd) || pmd_trans_huge(vmf.orig_pmd) ||",
    "A 2 MiB leaf has no pte table: treating it as one would read page data as page-table "
    "entries.")
SPF_PMD_SWAP = _guard(
    "spf_pmd_swap", HSF, "is_swap_pmd(vmf.orig_pmd))) {",
    "A migrating huge pmd is not a table either.")
SPF_PTE_NONE = _branch(
    "spf_pte_none", HSF, "if (pte_none(vmf.orig_pte)) {",
    "An empty PTE means a new anonymous page (do_anonymous_page()); otherwise the PTE "
    "exists and handle_pte_fault() works on it.")
SPF_SEQ_RETRY = _guard(
    "spf_seq_retry", HSF, "if (read_seqcount_retry(&vma->vm_sequence, seq)) {",
    "The flags, bounds and policy were read one by one: a writer that ran between the "
    "first count read and now may have made them inconsistent.",
    note=("Not caught alone: hpf_vma_changed re-checks the count, IRQs off, before anything "
          "the snapshot decided is used (the port's addition; in the seed this was the only "
          "check before handle_pte_fault() read the pmd). Removing both is caught: the pmd "
          "is read after munmap() freed its table."),
    pair=("hpf_vma_changed",))
HPF_VMA_CHANGED = _guard(
    "hpf_vma_changed", HPF, "if (vma_has_changed(vmf)) {",
    "IRQs are on again since the walk, so munmap() may already have freed the pmd's table: "
    "only an unchanged VMA, checked with IRQs off, makes *vmf->pmd safe to read. (The "
    "port's addition: the seed read the pmd here with IRQs on; the explorer found the "
    "use-after-free.)")
HPF_PMD_NONE = _guard(
    "hpf_pmd_none", HPF, "if (pmd_none(pmdval)) {",
    "The pmd was a table during the walk; empty now means a THP collapse is under way: "
    "khugepaged clears the pmd first.",
    note=("Not caught alone: in the port khugepaged clears the pmd inside the VMA's write "
          "section, so the lock helpers' vma_has_changed() refuses later, and with the "
          "seed's khugepaged (fault-vs-thp-collapse-v9) their pmd_same() does. Removing it "
          "with maplock_pmd_same is caught there: the PTE lock is looked up through an empty "
          "pmd."),
    pair=("maplock_pmd_same",))
HPF_NO_DO_FAULT = _guard(
    "hpf_no_do_fault", HPF, "if (vmf->flags & FAULT_FLAG_SPECULATIVE) {",
    "do_fault() calls vm_ops->fault(), which may sleep, release mmap_lock (not held here) "
    "or expect it held.",
    note=("Not caught alone: spf_vm_ops refuses the same VMAs before the walk. Removing both "
          "is caught: vm_ops->fault() runs without mmap_lock."),
    pair=("spf_vm_ops",), after="return do_anonymous_page(vmf);")
HPF_NO_SWAP = _guard(
    "hpf_no_swap", HPF, "if (vmf->flags & FAULT_FLAG_SPECULATIVE) {",
    "do_swap_page() reads the neighbouring PTEs through vmf->pmd and takes the PTE lock "
    "with pte_offset_map_lock(), IRQs on and nothing re-validated: munmap() may have freed "
    "those tables. (The port's choice: v9 6/24 made swap-in speculation-aware; not "
    "ported.)", after="if (!pte_present(vmf->orig_pte)) {")
HPF_NO_WP = _guard(
    "hpf_no_wp", HPF, "if (vmf->flags & FAULT_FLAG_SPECULATIVE) {",
    "Copy-on-write drops the PTE lock and takes it again with pte_offset_map_lock() "
    "through vmf->pmd, IRQs on and nothing re-validated, and computes the new page's rmap "
    "from the live VMA: munmap() may have freed the tables meanwhile.",
    after="if (!pte_write(entry)) {")
SPINLOCK_VMA_CHANGED = _guard(
    "spinlock_vma_changed", "pte_spinlock_speculative", "if (vma_has_changed(vmf)) {",
    "With IRQs now off the page tables cannot be freed under us, but they may already be "
    "gone: check before touching the PTE lock inside them.", after="local_irq_disable();")
SPINLOCK_PMD_SAME = _guard(
    "spinlock_pmd_same", "pte_spinlock_speculative", "if (!pmd_same(pmdval, vmf->orig_pmd)) {",
    "munmap() or a THP collapse may have emptied the pmd since the walk, before the VMA's "
    "count says so; the PTE lock is found through the pmd, and the lock of an empty pmd is "
    "garbage.")
SPINLOCK_TRYLOCK = _guard(
    "spinlock_trylock", "pte_spinlock_speculative", "if (unlikely(!spin_trylock(vmf->ptl))) {",
    "The holder may be waiting for this CPU to answer a TLB-flush IPI, which it cannot "
    "with IRQs off: spinning would deadlock.")
SPINLOCK_VMA_CHANGED_LOCKED = _guard(
    "spinlock_vma_changed_locked", "pte_spinlock_speculative", "if (vma_has_changed(vmf)) {",
    "A writer may have changed the VMA between the first check and taking the lock; once "
    "we hold the PTL, zap and change_protection wait for us.",
    after="if (unlikely(!spin_trylock(vmf->ptl))) {")
MAPLOCK_VMA_CHANGED = _guard(
    "maplock_vma_changed", "pte_map_lock_speculative", "if (vma_has_changed(vmf)) {",
    "As in pte_spinlock(): the PTE about to be written must still belong to the VMA and "
    "page tables the walk validated.", after="local_irq_disable();")
MAPLOCK_PMD_SAME = _guard(
    "maplock_pmd_same", "pte_map_lock_speculative", "if (!pmd_same(pmdval, vmf->orig_pmd)) {",
    "As in pte_spinlock(): the pmd may have been emptied (munmap(), a collapse) since the "
    "walk, and the PTE and its lock are found through it.")
MAPLOCK_TRYLOCK = _guard(
    "maplock_trylock", "pte_map_lock_speculative", "if (unlikely(!spin_trylock(ptl))) {",
    "The unmap path can hold this PTL while it waits for our IPI answer: with IRQs off, "
    "spin_lock() here would deadlock.")
MAPLOCK_VMA_CHANGED_LOCKED = _guard(
    "maplock_vma_changed_locked", "pte_map_lock_speculative", "if (vma_has_changed(vmf)) {",
    "The VMA may have changed while we took the lock; after this check, writers that need "
    "the PTL are held off until we are done.", after="if (unlikely(!spin_trylock(ptl))) {")
ANON_NO_PTE_ALLOC = _branch(
    "anon_no_pte_alloc", "do_anonymous_page", "goto skip_pmd;",
    "Speculatively the walk found the pte table; pte_alloc() here could link a new table "
    "into one munmap() just unlinked, and pmd_trans_unstable() would read a pmd that may "
    "be freed. (The port's addition: the seed allocated here.)")
ANON_NO_ANON_VMA = _guard(
    "anon_no_anon_vma", "do_anonymous_page", "if (unlikely(!READ_ONCE(vma->anon_vma))) {",
    "The new page's reverse mapping needs the anon_vma; if it went away since the start "
    "(mremap(MREMAP_DONTUNMAP)), preparing one needs mmap_lock.",
    note=("Not caught alone: the only writer that resets an anon_vma, mremap(MREMAP_DONTUNMAP)"
          ", does it inside the VMA's write section, so pte_map_lock() refuses afterwards; and "
          "spf_no_anon_vma refuses a VMA without one at the start. Removing both is caught: a "
          "first write fault maps its page with no anon_vma."),
    pair=("spf_no_anon_vma",))
ANON_UFFD_ZERO = _branch(
    "anon_uffd_zero", "do_anonymous_page", "goto setpte;",
    "The speculative path already refused VM_UFFD_MISSING; if it was set since, this "
    "fault is ordered before the registration, rather than calling handle_userfault() "
    "without mmap_lock.", after="entry = pte_mkspecial(pfn_pte(my_zero_pfn(vmf->address),")
ANON_UFFD = _branch(
    "anon_uffd", "do_anonymous_page",
    "if (!(vmf->flags & FAULT_FLAG_SPECULATIVE) && userfaultfd_missing(vma)) {",
    "Same for a write fault: handle_userfault() releases mmap_lock, which a speculative "
    "fault does not hold.")
SPF_GET_VMA_REF = _step(
    "spf_get_vma_ref", "get_vma", "if (vma && !atomic_inc_not_zero(&vma->vm_ref_count))",
    "The reference keeps the VMA's memory alive after munmap() removed it from the tree, "
    "so the fault can still read vm_sequence to learn that it changed.", file="mm/mmap.c")
SPF_PUT_VMA = _step(
    "spf_put_vma", HSF, "put_vma(vma);",
    "The reference get_vma() took keeps a removed VMA alive while we read it; without the "
    "matching put the VMA is never freed.", after="ret = handle_pte_fault(&vmf);")

#: Every check, in the order the speculative path meets them.
CHECKS: tuple[Check, ...] = (
    SPF_FLAGS,
    SPF_NO_VMA,
    SPF_SEQ_ODD,
    SPF_VM_OPS,
    SPF_NO_ANON_VMA,
    SPF_UFFD_MISSING,
    SPF_GROWS,
    SPF_BOUNDS,
    SPF_ARCH_ACCESS,
    SPF_WRITE_ACCESS,
    SPF_READ_ACCESS,
    SPF_VMA_POLICY,
    SPF_MPOL_INTERLEAVE,
    SPF_PGD,
    SPF_P4D,
    SPF_PUD,
    SPF_PUD_TRANS_HUGE,
    SPF_PMD_DEVMAP,
    SPF_PMD_NONE,
    SPF_PMD_TRANS_HUGE,
    SPF_PMD_SWAP,
    SPF_PTE_NONE,
    SPF_SEQ_RETRY,
    HPF_VMA_CHANGED,
    HPF_PMD_NONE,
    HPF_NO_DO_FAULT,
    HPF_NO_SWAP,
    HPF_NO_WP,
    SPINLOCK_VMA_CHANGED,
    SPINLOCK_PMD_SAME,
    SPINLOCK_TRYLOCK,
    SPINLOCK_VMA_CHANGED_LOCKED,
    MAPLOCK_VMA_CHANGED,
    MAPLOCK_PMD_SAME,
    MAPLOCK_TRYLOCK,
    MAPLOCK_VMA_CHANGED_LOCKED,
    ANON_NO_PTE_ALLOC,
    ANON_NO_ANON_VMA,
    ANON_UFFD_ZERO,
    ANON_UFFD,
    SPF_GET_VMA_REF,
    SPF_PUT_VMA,
)

BY_NAME: dict[str, Check] = {c.name: c for c in CHECKS}

TRYLOCK_IS_LOCK = Mechanism(
    "trylock_is_lock",
    "pte_spinlock()/pte_map_lock() take the PTE lock with spin_lock() instead of "
    "spin_trylock()")
IRQS_ON_WALK = Mechanism(
    "irqs_on_walk", "handle_speculative_fault() walks the page tables with IRQs left on")

#: Mechanisms that can be changed, beside the checks.
MECHANISMS: tuple[Mechanism, ...] = (TRYLOCK_IS_LOCK, IRQS_ON_WALK)

#: Every mutant by name: the guards and steps, then the mechanisms.
MUTANTS: dict[str, Mutant] = {**{c.name: c for c in CHECKS if c.has_mutant},
                              **{m.name: m for m in MECHANISMS}}


class UnknownCheck(UsageError, KeyError):
    """A check or mutant name that is not in the registry (shown to the user)."""

    def __str__(self) -> str:
        return self.args[0]


def get(name: str) -> Check:
    try:
        return BY_NAME[name]
    except KeyError:
        raise UnknownCheck(f"unknown check {name!r}; the checks are listed by "
                           "`spfteach checks`") from None


_WHAT = {"branch": "branch of the normal path",
         "scope": "scope test (a kind of VMA the port leaves to the classic path by choice)"}


def mutant(name: str | Mutant) -> Mutant:
    """The mutant called ``name`` (a mutant object is returned as it is)."""
    if isinstance(name, Check | Mechanism):
        if isinstance(name, Check) and not name.has_mutant:
            raise UnknownCheck(f"{name.name} is a {_WHAT[name.kind]}, not a check that can be "
                               "switched off")
        return name
    from .pervma.checks import MUTANTS as PER_VMA

    m = MUTANTS.get(name) or PER_VMA.get(name)
    if m is None:
        if name in BY_NAME:
            raise UnknownCheck(f"{name} is a {_WHAT[BY_NAME[name].kind]}, not a check that can "
                               "be switched off; mutants are the guards and steps of "
                               "`spfteach checks` plus " + ", ".join(x.name for x in MECHANISMS))
        raise UnknownCheck(f"unknown mutant {name!r}; mutants are the guards and steps of "
                           "`spfteach checks` plus " + ", ".join(x.name for x in MECHANISMS))
    return m


def scope(name: str | Check) -> Check:
    """The scope test called ``name`` (for ``Machine(widened=...)``)."""
    c = name if isinstance(name, Check) else get(name)
    if c.kind != "scope":
        raise UnknownCheck(f"{c.name} is a {c.kind}, not a scope test")
    return c


def as_json() -> list[dict[str, object]]:
    return [c.as_dict() for c in CHECKS]
