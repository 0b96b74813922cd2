"""The registry of the speculative path's checks, and of its mutants.

Each check is a test or a statement the speculative fault makes before it trusts
what it read without ``mmap_sem``.  Its name is stable (tests, mutants and
exercises refer to it); ``src`` is the C line; ``reason`` says in one sentence
what would go wrong without it.  Every check has a *kind*:

* ``guard`` — a test that makes the path give up: ``exit`` says how, ``abort``
  (``VM_FAULT_RETRY``: fall back to the classic path under ``mmap_sem``) or
  ``sigsegv`` (``VM_FAULT_SIGSEGV``: the access is illegal whoever looks);
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

from .task import Src

#: What a check is (see the module docstring).
KINDS = ("guard", "step", "branch")


@dataclass(frozen=True)
class Check:
    """One registered check of the speculative path."""

    name: str
    src: Src
    kind: str
    exit: str
    reason: str
    #: Why no scenario catches this check's mutant on its own (empty: one does).
    note: str = ""
    #: Checks that cover for this one: removing all of them together is caught
    #: in ``backup_scenario``.
    backup: tuple[str, ...] = ()
    backup_scenario: str = ""

    @property
    def function(self) -> str:
        return self.src.function

    @property
    def snippet(self) -> str:
        return self.src.snippet

    @property
    def has_mutant(self) -> bool:
        """Guards and steps can be switched off; a branch is not a check to remove."""
        return self.kind != "branch"

    def describe(self) -> str:
        """What the mutant that switches this check off does, in one line."""
        return f"{self.function}() without `{self.snippet}`"

    def as_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"name": self.name, "kind": self.kind,
                                "function": self.function, "file": self.src.file}
        d.update(snippet=self.snippet, exit=self.exit, reason=self.reason)
        if self.note:
            d["note"] = self.note
        if self.backup:
            d.update(backup=list(self.backup), backup_scenario=self.backup_scenario)
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


def _make(kind: str, exit: str | None = None):
    def make(name: str, file: str, fn: str, snippet: str, exit_: str, reason: str,
             note: str = "", backup: tuple[str, ...] = (), backup_scenario: str = "",
             after: str = "") -> Check:
        return Check(name, Src(file, fn, snippet, after), kind, exit or exit_, reason, note,
                     backup, backup_scenario)
    return make


_guard = _make("guard")
_step = _make("step")
_branch = _make("branch")


M = "mm/memory.c"
HSF = "handle_speculative_fault"

SPF_FLAGS = _step("spf_flags", M, HSF, "flags |= FAULT_FLAG_SPECULATIVE;", "step",
       "Clearing ALLOW_RETRY/KILLABLE and setting SPECULATIVE stops every callee from "
       "dropping an mmap_sem this path never took, and tells them they run speculatively.")
SPF_NO_VMA = _guard("spf_no_vma", M, HSF, "if (!vma)", "abort",
       "Without a VMA at or above the address there is nothing to fault in; the classic "
       "path decides between stack expansion and SIGSEGV.")
SPF_SEQ_ODD = _guard("spf_seq_odd", M, HSF, "if (seq & 1)", "abort",
       "An odd count means a writer is half-way through changing the VMA: a snapshot "
       "taken now could mix old and new fields and still validate later.",
       note=("Not caught in the model since it mirrors the port: there a writer's PTE pass "
             "(change_protection(), the zap) runs after its write section ends, so a fault "
             "that validated against the odd count writes its PTE before the pass that fixes "
             "it. With the seed's order (PTEs rewritten inside the section) seq-odd-at-start "
             "caught it."))
SPF_VM_OPS = _guard("spf_vm_ops", M, HSF, "if (vma->vm_ops)", "abort",
       "vm_ops callbacks (file systems, hugetlbfs, drivers) may sleep or expect "
       "mmap_sem held; only plain anonymous memory is handled speculatively.",
       note=("Redundant in the model: a VMA with vm_ops reaches handle_pte_fault, where "
             "hpf_no_do_fault refuses do_fault(). The seed keeps both; this one refuses before "
             "the walk."),
       backup=('hpf_no_do_fault',), backup_scenario="alone-file-vma")
SPF_VM_FILE = _guard("spf_vm_file", M, HSF, "if (vma->vm_file)", "abort",
       "A private /dev/zero mapping is anonymous but holds a file, which nothing keeps "
       "alive without mmap_lock. (The port's addition.)",
       note=("Not caught in the model, which has no file to free: a VMA with vm_file and no "
             "vm_ops faults like any anonymous VMA here; the kernel would need a reference "
             "on the file."))
SPF_NO_ANON_VMA = _guard("spf_no_anon_vma", M, HSF, "if (unlikely(!vma->anon_vma))", "abort",
       "Preparing an anon_vma links it to neighbouring VMAs, which needs mmap_sem; "
       "the first fault of a VMA must take the classic path.",
       note=("Redundant in the model with anon_no_anon_vma: the port checks the anon_vma "
             "again in do_anonymous_page() before it allocates, and gives up there."),
       backup=('anon_no_anon_vma',), backup_scenario="fault-vs-anon-vma")
SPF_UFFD_MISSING = _guard(
       "spf_uffd_missing", M, HSF, "if (unlikely(vmf.vma_flags & VM_UFFD_MISSING))",
       "abort",
       "A userfaultfd-registered range hands missing faults to user space, which "
       "releases mmap_sem and sleeps: impossible without holding it.")
SPF_GROWS = _guard(
       "spf_grows", M, HSF, "if (vmf.vma_flags & VM_GROWSDOWN || vmf.vma_flags & VM_GROWSUP)",
       "abort",
       "A stack VMA may be expanded by the fault itself, which changes vm_start and "
       "needs mmap_sem; it is refused as unsupported rather than as changed.",
       note=("Not needed for correctness: an address below a stack's vm_start fails spf_bounds"
             " anyway (the seed says as much); the check makes the abort count as unsupported "
             "rather than changed, and no scenario can tell the difference."))
SPF_BOUNDS = _guard("spf_bounds", M, HSF, "if (address < READ_ONCE(vma->vm_start)", "abort",
       "The lookup returns the first VMA ending above the address, which need not "
       "contain it (a hole below, or bounds that moved after the lookup).",
       note=("Redundant in the model: the port's get_vma() (mas_walk) only returns a VMA "
             "that contains the address, so the bounds can only move under a writer, whose "
             "count vma_has_changed() sees later."))
SPF_ARCH_ACCESS = _guard(
       "spf_arch_access", M, HSF, "if (!arch_vma_access_permitted(vma,", "sigsegv",
       "Protection keys can forbid the access even where vm_flags allow it: a "
       "fault that maps the page would bypass the key.")
SPF_WRITE_ACCESS = _guard(
       "spf_write_access", M, HSF, "if (unlikely(!(vmf.vma_flags & VM_WRITE)))", "sigsegv",
       "A write to a VMA without VM_WRITE must not get a writable PTE.")
SPF_READ_ACCESS = _guard("spf_read_access", M, HSF,
       "} else if (unlikely(!(vmf.vma_flags & (VM_READ | VM_EXEC | VM_WRITE)))) {", "sigsegv",
       "A PROT_NONE VMA allows no access at all.")
SPF_VMA_POLICY = _guard("spf_vma_policy", M, HSF, "if (pol) {", "abort",
       "A VMA's own policy can be replaced, and freed, by mbind() at any time; only the "
       "task's policy is safe to look at without mmap_lock. (The port's addition.)",
       note=("Not caught in the model, which neither frees policies nor places pages by "
             "policy: it only shows that such a VMA goes to the classic path."))
SPF_MPOL_INTERLEAVE = _guard(
       "spf_mpol_interleave", M, HSF, "if (pol && pol->mode == MPOL_INTERLEAVE)", "abort",
       "Interleave placement computes the node from the VMA's offset in mpol_misplaced(), "
       "work that assumes a stable VMA (here: the task's policy, the VMA has none).",
       note=("Not needed in the model, which does no NUMA placement: in the kernel, "
             "mpol_misplaced() computes the interleave node from the VMA's offset, which a "
             "speculative reader could see half-changed."))
SPF_PGD = _guard("spf_pgd", M, HSF, "if (pgd_none(pgdval) || unlikely(pgd_bad(pgdval)))", "abort",
       "The speculative path never allocates page tables: one allocated after "
       "free_pgtables() would leak. (Constant false with 4-level paging, where p4d is "
       "folded into the pgd.)")
SPF_P4D = _guard("spf_p4d", M, HSF, "if (p4d_none(p4dval) || unlikely(p4d_bad(p4dval)))", "abort",
       "Same as the pgd: an empty or corrupt p4d entry means a classic fault must "
       "build the path.")
SPF_PUD = _guard("spf_pud", M, HSF, "if (pud_none(pudval) || unlikely(pud_bad(pudval)))", "abort",
       "An empty pud needs a pmd table allocated, which only the classic path may do.")
SPF_PUD_TRANS_HUGE = _guard(
       "spf_pud_trans_huge", M, HSF, "if (unlikely(pud_trans_huge(pudval)))", "abort",
       "A 1 GiB leaf has no pmd level to walk; huge pages are not handled speculatively.")
SPF_PMD_DEVMAP = _guard(
       "spf_pmd_devmap", M, HSF, "if (unlikely(pmd_devmap(vmf.orig_pmd) ||", "abort",
       "A device huge mapping has no pte table and needs its driver.")
SPF_PMD_NONE = _guard(
       "spf_pmd_none", M, HSF, "pmd_none(vmf.orig_pmd) || pmd_trans_huge(vmf.orig_pmd) ||",
       "abort",
       "An empty pmd needs a pte table allocated; it may also be a THP collapse in "
       "progress, which clears the pmd before its IPI.")
SPF_PMD_TRANS_HUGE = _guard(
       "spf_pmd_trans_huge", M, HSF, "pmd_none(vmf.orig_pmd) || pmd_trans_huge(vmf.orig_pmd) ||",
       "abort", "A 2 MiB leaf has no pte table: treating it as one would read page data "
       "as page-table entries.")
SPF_PMD_SWAP = _guard("spf_pmd_swap", M, HSF, "is_swap_pmd(vmf.orig_pmd)))", "abort",
       "A migrating huge pmd is not a table either.")
SPF_PTE_NONE = _branch("spf_pte_none", M, HSF, "if (pte_none(vmf.orig_pte)) {", "branch",
       "An empty PTE means a new anonymous page (do_anonymous_page); otherwise the "
       "PTE exists and only its bits change.")
SPF_SEQ_RETRY = _guard(
       "spf_seq_retry", M, HSF, "if (read_seqcount_retry(&vma->vm_sequence, seq))", "abort",
       "The flags and bounds were read one by one: a writer that ran between the first "
       "count read and now may have made them inconsistent.",
       note=("Redundant in the model since our hpf_vma_changed re-validates the VMA, IRQs off, a "
             "few steps later; in the seed it was the only re-validation before handle_pte_fault "
             "read the pmd."),
       backup=('hpf_vma_changed',), backup_scenario="fault-vs-munmap")
HPF_VMA_CHANGED = _guard(
       "hpf_vma_changed", M, "handle_pte_fault", "if (vma_has_changed(vmf)) {", "abort",
       "IRQs are on again since the walk, so munmap() may already have freed the pmd's "
       "table: only an unchanged VMA, checked with IRQs off, makes *vmf->pmd safe to read. "
       "(Our addition: the seed read the pmd here with IRQs on; the explorer found the "
       "use-after-free.)")
HPF_PMD_NONE = _guard("hpf_pmd_none", M, "handle_pte_fault", "if (pmd_none(pmdval))", "abort",
       "The pmd was a table during the walk; empty now means a THP collapse is under way "
       "(khugepaged clears the pmd first), which does not touch the VMA's count.",
       note=("Redundant in the model with maplock_pmd_same, which sees the emptied pmd under IRQs"
             " off before any PTE is written."),
       backup=('maplock_pmd_same',), backup_scenario="fault-vs-thp-collapse")
HPF_NO_DO_FAULT = _guard("hpf_no_do_fault", M, "handle_pte_fault",
       "if (vmf->flags & FAULT_FLAG_SPECULATIVE) {", "abort",
       "do_fault() calls vm_ops->fault(), which may release mmap_sem — not held here.",
       note="Redundant in the model with spf_vm_ops, which refuses the same VMAs earlier.",
       backup=('spf_vm_ops',), backup_scenario="alone-file-vma",
       after="return do_anonymous_page(vmf);")
HPF_NO_SWAP = _guard(
       "hpf_no_swap", M, "handle_pte_fault", "if (vmf->flags & FAULT_FLAG_SPECULATIVE) {",
       "abort",
       "Swap-in looks at more of the VMA, and sleeps on locks, than the speculative checks "
       "validate. (The port's choice.)",
       note=("Not caught in the model, which does not model swap-in: no scenario has a swap "
             "PTE, and an empty one takes the spf_pte_none branch."),
       after="if (!pte_present(vmf->orig_pte)) {")
HPF_NO_WP = _guard("hpf_no_wp", M, "handle_pte_fault", "if (vmf->flags & FAULT_FLAG_SPECULATIVE) {",
       "abort",
       "Copy-on-write drops the PTE lock to allocate and copy, and would need the page's "
       "mapping to be stable too; the port leaves it to the classic path.",
       note=("Not caught in the model: its do_wp_page() re-validates under pte_map_lock() "
             "before it writes, so the speculative copy is safe there too."),
       after="if (!pte_write(entry)) {")
SPINLOCK_VMA_CHANGED = _guard(
       "spinlock_vma_changed", M, "pte_spinlock", "if (vma_has_changed(vmf))", "abort",
       "With IRQs now off the page tables cannot be freed under us, but they may already "
       "be gone: check before touching the PTE lock inside them.",
       after="local_irq_disable();")
SPINLOCK_PMD_SAME = _guard(
       "spinlock_pmd_same", M, "pte_spinlock", "if (!pmd_same(pmdval, vmf->orig_pmd))",
       "abort",
       "khugepaged may have replaced the pte table by a huge pmd without touching the "
       "VMA's count; the lock would be the old table's.",
       note=("Not caught in the model: after a collapse the old pte table's entries are "
             "cleared, so pte_same() under the lock fails and nothing is written. The kernel "
             "may re-populate a deposited table when it splits the huge page again, which the "
             "model does not do."))
SPINLOCK_TRYLOCK = _guard(
       "spinlock_trylock", M, "pte_spinlock", "if (unlikely(!spin_trylock(vmf->ptl)))",
       "abort",
       "The holder may be waiting for this CPU to answer a TLB-flush IPI, which it "
       "cannot with IRQs off: spinning would deadlock.")
SPINLOCK_VMA_CHANGED_LOCKED = _guard(
       "spinlock_vma_changed_locked", M, "pte_spinlock", "if (vma_has_changed(vmf)) {",
       "abort",
       "A writer may have changed the VMA between the first check and taking the lock; "
       "once we hold the PTL, zap and change_protection wait for us.",
       after="if (unlikely(!spin_trylock(vmf->ptl))) {")
MAPLOCK_VMA_CHANGED = _guard(
       "maplock_vma_changed", M, "pte_map_lock", "if (vma_has_changed(vmf))", "abort",
       "As in pte_spinlock: the PTE about to be written must still belong to the VMA "
       "and page tables the walk validated.", after="local_irq_disable();")
MAPLOCK_PMD_SAME = _guard(
       "maplock_pmd_same", M, "pte_map_lock", "if (!pmd_same(pmdval, vmf->orig_pmd))", "abort",
       "The pte table may have been collapsed into a huge page or replaced.")
MAPLOCK_TRYLOCK = _guard(
       "maplock_trylock", M, "pte_map_lock", "if (unlikely(!spin_trylock(ptl))) {", "abort",
       "The unmap path can hold this PTL while it waits for our IPI answer: with IRQs "
       "off, spin_lock() here would deadlock.")
MAPLOCK_VMA_CHANGED_LOCKED = _guard(
       "maplock_vma_changed_locked", M, "pte_map_lock", "if (vma_has_changed(vmf)) {",
       "abort",
       "The VMA may have changed while we took the lock; after this check, writers "
       "that need the PTL are held off until we are done.",
       after="if (unlikely(!spin_trylock(ptl))) {")
ANON_NO_PTE_ALLOC = _branch("anon_no_pte_alloc", M, "do_anonymous_page", "goto skip_pmd;", "branch",
       "Speculatively the walk found the pte table; pte_alloc() here could link a new "
       "table into one munmap() just unlinked, and pmd_trans_unstable() would read a pmd "
       "that may be freed. (Our addition: the seed allocated here.)")
ANON_NO_ANON_VMA = _guard("anon_no_anon_vma", M, "do_anonymous_page",
       "if (unlikely(!READ_ONCE(vma->anon_vma))) {", "abort",
       "The new page's reverse mapping needs the anon_vma; if it went away since the "
       "start (mremap(MREMAP_DONTUNMAP)), preparing one needs mmap_lock.",
       note=("Not caught in the model: no writer of the catalogue removes an anon_vma, and "
             "spf_no_anon_vma refuses a VMA without one at the start."),
       backup=("spf_no_anon_vma",), backup_scenario="fault-vs-anon-vma")
ANON_UFFD_ZERO = _branch("anon_uffd_zero", M, "do_anonymous_page", "goto setpte;", "branch",
       "The speculative path already refused VM_UFFD_MISSING; if it was set since, this "
       "fault is ignored rather than calling handle_userfault() without mmap_sem.",
       after="registration may have happened since")
ANON_UFFD = _branch("anon_uffd", M, "do_anonymous_page",
       "if (!(vmf->flags & FAULT_FLAG_SPECULATIVE) && userfaultfd_missing(vma)) {", "branch",
       "Same for a write fault: handle_userfault() releases mmap_sem, which a speculative "
       "fault does not hold.")
SPF_GET_VMA_REF = _step("spf_get_vma_ref", "mm/mmap.c", "get_vma",
       "if (vma && !atomic_inc_not_zero(&vma->vm_ref_count))", "step",
       "The reference keeps the VMA's memory alive after munmap() removed it from the "
       "tree, so the fault can still read vm_sequence to learn that it changed.")
SPF_PUT_VMA = _step("spf_put_vma", M, HSF, "put_vma(vma);", "step",
       "The reference get_vma() took keeps a removed VMA alive while we read it; "
       "without the matching put the VMA is never freed.",
       after="ret = handle_pte_fault(&vmf);")

#: Every check, in the order the speculative path meets them.
CHECKS: tuple[Check, ...] = (
    SPF_FLAGS,
    SPF_NO_VMA,
    SPF_SEQ_ODD,
    SPF_VM_OPS,
    SPF_VM_FILE,
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


class UnknownCheck(KeyError):
    """A check or mutant name that is not in the registry (shown to the user)."""

    def __str__(self) -> str:
        return self.args[0]


def get(name: str) -> Check:
    try:
        return BY_NAME[name]
    except KeyError:
        raise UnknownCheck(f"unknown check {name!r}; the checks are listed by "
                           "`spfteach checks`") from None


def mutant(name: str | Mutant) -> Mutant:
    """The mutant called ``name`` (a mutant object is returned as it is)."""
    if isinstance(name, Check | Mechanism):
        if isinstance(name, Check) and not name.has_mutant:
            raise UnknownCheck(f"{name.name} is a branch of the normal path, not a check "
                               "that can be switched off")
        return name
    m = MUTANTS.get(name)
    if m is None:
        if name in BY_NAME:
            raise UnknownCheck(f"{name} is a branch of the normal path, not a check that can "
                               "be switched off; mutants are the guards and steps of "
                               "`spfteach checks` plus " + ", ".join(x.name for x in MECHANISMS))
        raise UnknownCheck(f"unknown mutant {name!r}; mutants are the guards and steps of "
                           "`spfteach checks` plus " + ", ".join(x.name for x in MECHANISMS))
    return m


def as_json() -> list[dict[str, object]]:
    return [c.as_dict() for c in CHECKS]
