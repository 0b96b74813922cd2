"""The whole modelled machine: CPUs, one address space, page-table pages, pages.

Plain data, so that a snapshot after every step is cheap and two runs can be
compared key by key.  Set-up helpers (``add_vma``, ``populate``) build the
initial memory map directly — they are the "before the story starts" part of a
scenario, not steps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import checks, invariants, pgtable, record
from . import footprint as fp
from .bug import oops
from .checks import Mutant
from .footprint import Obj
from .locking import Spinlock
from .mempolicy import Mempolicy
from .mm_types import (
    MPOL_DEFAULT,
    VM_WRITE,
    MmStruct,
    VmAreaStruct,
    flags_str,
    linear_page_index,
)
from .pgtable import Entry, Kind, PageTablePage, PtState
from .record import HOLDER, recorded, registry
from .smp import Cpu
from .snapshot import PageTableRow, Snapshot
from .state import CONSTANT, key_of, not_state, state
from .task import Task

#: pfn of the shared zero page, mapped (special, read-only) by read faults.
ZERO_PFN = 0
#: The fault-path designs a machine can have (``Machine.design``).
DESIGNS = ("spf", "per-vma")

#: why the allocation counters are not state
_COUNTER = ("an allocation counter: two states that differ only in the next id continue alike "
            "up to names, which no invariant looks at (the footprints see it: ALLOC)")


def _callbacks(cbs: list[tuple[set[int], VmAreaStruct]]) -> tuple:
    """The RCU callbacks in the key: who each waits for, and which VMA (by id: the
    VMA itself is state in ``Machine.vmas``)."""
    return tuple([(tuple(sorted(w)), v.id) for w, v in cbs])


@dataclass(frozen=True)
class WalkLevel:
    """One level of a walk: which table, which index, what entry was found."""

    level: str
    table: int | None  # page-table page id (None: level not reached)
    index: int
    entry: Entry | None
    folded: bool = False


@recorded(lambda k: None)
@dataclass
class Machine:
    """Everything the threads share."""

    ncpus: int = not_state(CONSTANT, default=2)
    la57: bool = not_state(CONSTANT, default=False)
    #: the registry objects this run switches off (names are accepted and looked up)
    mutants: Iterable[Mutant | str] = not_state(CONSTANT, default=frozenset())
    #: scope tests switched off (tests only): the port refuses these kinds of
    #: VMA by choice; widening shows that handling them speculatively is safe
    widened: Iterable[checks.Check | str] = not_state(CONSTANT, default=frozenset())
    #: mmu_gather batch size: a zap that fills it flushes the TLB *before* it
    #: drops the PTE lock (``force_flush`` in ``zap_pte_range()``).
    tlb_batch: int = not_state(CONSTANT, default=64)
    #: which fault path the kernel has: ``"spf"`` (6.1 with our series) or ``"per-vma"``
    #: (6.12's per-VMA locks, :mod:`.pervma`); see :data:`DESIGNS`
    design: str = not_state(CONSTANT, default="spf")
    cpus: list[Cpu] = state(fp=HOLDER, default_factory=list)
    pt_pages: dict[int, PageTablePage] = state(fp=registry(fp.PT), default_factory=dict)
    ptl: dict[int, Spinlock] = state(fp=registry(fp.PTL), default_factory=dict)
    #: page frame -> "allocated" (not yet mapped), "mapped" (counted: its rmap is
    #: set), "freed", or "zero page"
    pages: dict[int, str] = state(fp=lambda k: fp.PAGES, default_factory=dict)
    #: page frame -> (anon_vma, index): the reverse map of an anonymous page
    rmap: dict[int, tuple[int | None, int]] = state(fp=lambda k: fp.PAGES, default_factory=dict)
    #: swap entry -> (anon_vma, index) of the page written there (MADV_PAGEOUT)
    swap: dict[int, tuple[int | None, int]] = state(fp=lambda k: fp.SWAP, default_factory=dict)
    #: NUMA policies that VMAs point to (vma->vm_policy)
    policies: dict[int, Mempolicy] = state(fp=registry(fp.POLICY), default_factory=dict)
    vmas: dict[int, VmAreaStruct] = state(fp=registry(fp.VMA, fp.VM_SEQUENCE), default_factory=dict)
    tasks: list[Task] = not_state("the threads: each one's state is in its own key "
                                  "(spfteach.explore.statekey)", default_factory=list)
    #: protection keys the threads' PKRU register denies (x86 pkeys)
    pkru_denied: frozenset[int] = not_state(CONSTANT, default=frozenset())
    #: The grading hooks (spfteach.grading), by name: ``"vma_has_changed"``, a
    #: student's decision consulted instead of the model's own (the reads and the
    #: steps stay the model's); ``"pte_map_lock checks"``, the checks of
    #: pte_map_lock()'s speculative branch run in a student's order (built of the
    #: model's own steps).  Empty: the model as it is.
    override: dict[str, Any] = not_state(CONSTANT, default_factory=dict)
    #: the invariants broken so far: a violation ends the path that finds it, so the
    #: key holds how many, not the words
    violations: list[tuple[str, str]] = state(fp=HOLDER, key=len, default_factory=list)
    #: address ranges that writers changed, in order (a PTE zapped, moved or
    #: protected, a table unlinked, a VMA in its write section or in or out of
    #: the tree): a fault whose page is not mapped when it returns success is
    #: "lost" only if no writer touched that page while it ran.
    writes: list[tuple[int, int]] = state(fp=lambda k: fp.WRITES, default_factory=list)
    #: tasks inside rcu_read_lock(), and VMAs whose last reference is gone,
    #: each waiting for the readers that were inside when call_rcu() ran
    rcu_readers: set[int] = state(fp=lambda k: fp.RCU, default_factory=set)
    rcu_callbacks: list[tuple[set[int], VmAreaStruct]] = state(fp=lambda k: fp.RCU, key=_callbacks,
                                                               default_factory=list)
    #: the address space (set up by __post_init__)
    mm: MmStruct = state(fp=HOLDER, init=False)
    _next_pt: int = not_state(_COUNTER, fp=lambda k: fp.ALLOC, default=0)
    _next_pfn: int = not_state(_COUNTER, fp=lambda k: fp.PAGES, default=1)
    _next_vma: int = not_state(_COUNTER, fp=lambda k: fp.ALLOC, default=0)
    _next_anon: int = not_state(_COUNTER, fp=lambda k: fp.ALLOC, default=0)
    _next_swap: int = not_state(_COUNTER, fp=lambda k: fp.SWAP, default=1)
    _next_policy: int = not_state(_COUNTER, fp=lambda k: fp.ALLOC, default=1)

    def __post_init__(self) -> None:
        if self.design not in DESIGNS:
            raise ValueError(f"unknown design {self.design!r}: one of {', '.join(DESIGNS)}")
        self.mutants = frozenset(checks.mutant(m) for m in self.mutants)
        self.widened = frozenset(checks.scope(w) for w in self.widened)
        self.cpus = [Cpu(i) for i in range(self.ncpus)]
        pgd = self.alloc_pt("pgd")
        pgd.state = PtState.LINKED
        self.mm = MmStruct(pgd=pgd, la57=self.la57)
        self.pages[ZERO_PFN] = "zero page"

    @property
    def folded(self) -> bool:
        """p4d folded into the pgd (4-level paging)."""
        return not self.la57

    def mutated(self, m: Mutant) -> bool:
        """Is ``m`` (a registry object, never a name) switched off in this run?"""
        if not isinstance(m, checks.Check | checks.Mechanism):
            raise TypeError(f"mutated() takes a registry object, not {m!r}")
        return m in self.mutants  # type: ignore[operator]

    # --- allocation --------------------------------------------------------

    def alloc_pt(self, level: str, address: int = 0) -> PageTablePage:
        """A new, not yet linked, table page of ``level`` for ``address``."""
        base = address & ~((1 << (pgtable.SHIFT[level] + 9)) - 1) if level != "pgd" else 0
        pt = PageTablePage(self._next_pt, level, base)
        self._next_pt += 1
        self.pt_pages[pt.id] = pt
        if level == "pte":
            self.ptl[pt.id] = Spinlock(f"ptl(pt{pt.id})", obj=fp.ptl(pt.id))
        return pt

    def alloc_page(self) -> int:
        pfn = self._next_pfn
        self._next_pfn += 1
        self.pages[pfn] = "allocated"
        return pfn

    def new_policy(self, mode: str) -> Mempolicy:
        """``mpol_new()``/``mpol_dup()``: a policy object of its own."""
        pol = Mempolicy(self._next_policy, mode)
        self._next_policy += 1
        self.policies[pol.id] = pol
        return pol

    def new_anon_vma(self) -> int:
        self._next_anon += 1
        return self._next_anon

    # --- tasks -------------------------------------------------------------

    def add_task(self, name: str, cpu: int | None = None) -> Task:
        tid = len(self.tasks)
        if cpu is None:
            cpu = tid
        if not 0 <= cpu < self.ncpus:
            raise ValueError(f"cpu{cpu} does not exist (the machine has {self.ncpus})")
        t = Task(self, tid, name, cpu)
        self.tasks.append(t)
        return t

    # --- set-up helpers (not steps) --------------------------------------------

    def add_vma(
        self,
        start: int,
        end: int,
        flags: int,
        *,
        anon_vma: bool = True,
        vm_ops: str | None = None,
        policy: str | None = None,
        vm_file: str | None = None,
    ) -> VmAreaStruct:
        """Insert a VMA into the tree before the scenario starts."""
        for a in (start, end):
            if a % pgtable.PAGE_SIZE:
                raise ValueError(f"VMA bound {a:#x} is not page aligned")
        if end <= start:
            raise ValueError(f"empty VMA {start:#x}-{end:#x}")
        pgtable.check_user_address(end - 1, self.la57)
        for v in self.mm.mmap:
            if v.vm_start < end and start < v.vm_end:
                raise ValueError(f"VMA {start:#x}-{end:#x} overlaps vma{v.id}")
        pol = self.new_policy(policy).id if policy not in (None, MPOL_DEFAULT) else None
        vma = self.new_vma(start, end, flags, self.new_anon_vma() if anon_vma else None,
                           vm_ops=vm_ops, policy=pol)
        vma.vm_file = vm_file
        self.mm.mmap.append(vma)
        self.mm.mmap.sort(key=lambda v: v.vm_start)
        return vma

    def new_vma(self, start: int, end: int, flags: int, anon_vma: int | None,
                vm_ops: str | None = None, policy: int | None = None,
                pgoff: int = -1) -> VmAreaStruct:
        """``vm_area_alloc()``/``vm_area_dup()``: a VMA not yet in the tree (a
        writer links it).  A policy is duplicated (``vma_dup_policy()``)."""
        if policy is not None:
            policy = self.new_policy(self.policies[policy].mode).id
        vma = VmAreaStruct(self._next_vma, start, end, flags, anon_vma=anon_vma,
                           vm_ops=vm_ops, vm_policy=policy, vm_pgoff=pgoff)
        self._next_vma += 1
        self.vmas[vma.id] = vma
        return vma

    def table_for(self, address: int, level: str, create: bool) -> PageTablePage | None:
        """The page-table page of ``level`` covering ``address`` (set-up only)."""
        pt = self.mm.pgd
        for upper, lower in zip(pgtable.LEVELS, pgtable.LEVELS[1:], strict=False):
            if upper == level:
                return pt
            if upper == "pgd" and self.folded:
                continue  # the p4d table is the pgd itself
            idx = pgtable.index(upper, address, self.la57)
            e = pt.get(idx)
            if e.kind is Kind.NONE and create:
                child = self.alloc_pt(lower, address)
                child.state = PtState.LINKED
                pt.set(idx, Entry(Kind.TABLE, child.id))
                e = pt.get(idx)
            if e.kind is not Kind.TABLE:
                return None
            pt = self.pt_pages[e.target]
        return pt

    def set_entry(self, address: int, level: str, entry: Entry) -> None:
        """Set-up: write ``entry`` at ``level`` for ``address``, creating tables."""
        pt = self.table_for(address, level, create=True)
        assert pt is not None, f"no {level} table for {address:#x}"
        pt.set(pgtable.index(level, address, self.la57), entry)

    def populate(self, address: int, write: bool | None = None, accessed: bool = True) -> int:
        """Set-up: map a fresh anonymous page at ``address``; returns its pfn.

        The PTE is writable when the VMA there has VM_WRITE (unless ``write``
        says otherwise), as a past write fault would have left it.
        """
        vma = self.find_vma_at(address)
        if vma is not None and vma.vm_ops is None and vma.anon_vma is None:
            raise ValueError(f"vma{vma.id} has no anon_vma: an anonymous page cannot be "
                             "mapped there (its first fault would have prepared one)")
        if write is None:
            write = bool(vma and vma.vm_flags & VM_WRITE)
        pfn = self.alloc_page()
        self.pages[pfn] = "mapped"
        if vma is not None and vma.vm_ops is None:
            self.rmap[pfn] = (vma.anon_vma, linear_page_index(vma, address))
        self.set_entry(address, "pte", Entry(Kind.PAGE, pfn, write=write, accessed=accessed))
        return pfn

    def populate_huge(self, address: int, level: str = "pmd") -> int:
        """Set-up: map a fresh huge page (a THP at pmd level, 1 GiB at pud level)
        covering ``address``; returns its pfn."""
        vma = self.find_vma_at(address)
        base = address & ~((1 << pgtable.SHIFT[level]) - 1)
        pfn = self.alloc_page()
        self.pages[pfn] = "mapped"
        if vma is not None and vma.vm_ops is None:
            self.rmap[pfn] = (vma.anon_vma, linear_page_index(vma, base))
        self.set_entry(base, level, Entry(Kind.HUGE, pfn, write=True, accessed=True))
        return pfn

    def swap_out(self, address: int) -> int:
        """Set-up: the anonymous page at ``address`` was written to swap
        (``MADV_PAGEOUT``): its PTE becomes a swap entry; returns the entry."""
        vma = self.find_vma_at(address)
        assert vma is not None, f"no VMA at {address:#x}"
        slot = self._next_swap
        self._next_swap += 1
        self.swap[slot] = (vma.anon_vma, linear_page_index(vma, address))
        old = self.table_for(address, "pte", create=True).get(  # type: ignore[union-attr]
            pgtable.index("pte", address, self.la57))
        if old.kind is Kind.PAGE and not old.special:
            self.pages[old.target] = "freed"  # written out, then reclaimed
            self.rmap.pop(old.target, None)
        self.set_entry(address, "pte", Entry(Kind.SWAP, slot))
        return slot

    # --- inspection --------------------------------------------------------

    def walk(self, address: int) -> list[WalkLevel]:
        """The walk of ``address`` level by level, stopping where it stops."""
        out: list[WalkLevel] = []
        pt: PageTablePage | None = self.mm.pgd
        for level in pgtable.LEVELS:
            idx = pgtable.index(level, address, self.la57)
            if level == "p4d" and self.folded:
                prev = out[-1]
                out.append(WalkLevel("p4d", prev.table, idx, prev.entry, folded=True))
                e = prev.entry
            else:
                if pt is None:
                    out.append(WalkLevel(level, None, idx, None))
                    continue
                e = pt.get(idx)
                out.append(WalkLevel(level, pt.id, idx, e))
            if level == "pgd" and self.folded:
                continue  # the p4d step reads the same entry
            if e is not None and e.kind is Kind.TABLE:
                pt = self.pt_pages[e.target]
            else:
                pt = None
        return out

    def page_tables(self) -> tuple:
        """The live page tables as a nested value, page frame numbers left out.

        Two runs that map the same pages with the same rights compare equal even
        when an aborted attempt allocated (and freed) a page in one of them.
        """

        def table(pt: PageTablePage) -> tuple:
            out = []
            for idx, e in sorted(pt.entries.items()):
                if e.kind is Kind.TABLE:
                    out.append((idx, pt.level, table(self.pt_pages[e.target])))
                else:
                    target = "zero" if e.special else ("page" if e.kind is Kind.PAGE
                                                       else e.target)
                    out.append((idx, e.kind.value, target, e.write, e.dirty))
            return tuple(out)

        return table(self.mm.pgd)

    def mapped(self, address: int, write: bool) -> bool:
        """Does the live walk of ``address`` end in a present mapping (writable
        when ``write``)?"""
        for lvl in self.walk(address):
            e = lvl.entry
            if lvl.folded or e is None or e.kind is Kind.TABLE:
                continue
            if e.kind in (Kind.PAGE, Kind.HUGE, Kind.DEVMAP):
                return e.write or not write
            return False
        return False

    def find_vma_at(self, address: int) -> VmAreaStruct | None:
        for v in self.mm.mmap:
            if v.contains(address):
                return v
        return None

    def snapshot(self) -> Snapshot:
        """The shared state in words, by section and as flat keys (:mod:`.snapshot`): for the
        state panel, the traces and their diffs."""
        pages = {}
        for pfn in sorted(self.pages.keys() | self.rmap.keys()):
            rm = self.rmap.get(pfn)
            pages[pfn] = self.pages.get(pfn, "unknown") + (
                f" (rmap av{rm[0]}, index {rm[1]:#x})" if rm else "")
        return Snapshot(
            vmas={v.id: v.snapshot() for v in self.vmas.values()},
            tree=",".join(f"vma{v.id}" for v in self.mm.mmap) or "empty",
            pts={pt.id: PageTableRow(pt.level, pt.state.value,
                                     {idx: str(e) for idx, e in sorted(pt.entries.items())},
                                     self.ptl[pt.id].snapshot() if pt.id in self.ptl else None)
                 for pt in self.pt_pages.values()},
            locks={"mmap_lock": self.mm.mmap_lock.snapshot(),
                   "page_table_lock": self.mm.page_table_lock.snapshot(),
                   **self._vma_locks()},
            cpus={c.id: c.snapshot() for c in self.cpus},
            rcu_readers=",".join(f"T{r}" for r in sorted(self.rcu_readers)) or "none",
            pages=pages,
            swap={slot: f"in use (av{anon}, index {index:#x})"
                  for slot, (anon, index) in self.swap.items()},
            policies={pol.id: pol.mode + (" freed" if pol.freed else "")
                      for pol in self.policies.values()},
        )

    def state_key(self) -> tuple:
        """The shared state as one hashable value, for the explorer's state cache:
        every field declared ``state()`` (:mod:`.state`), derived from the
        declarations, so a new field cannot be left out of it unnoticed."""
        return key_of(self)

    def objects(self) -> dict[Obj, object]:
        """The shared state split into the objects footprints name (:mod:`.footprint`),
        derived from the declarations (:func:`.record.objects`): what a step changed is the
        objects whose values differ before and after it. It holds everything ``state_key``
        holds but the violations (a violation ends the path that finds it)."""
        return record.objects(self)

    def describe(self) -> str:
        """A short human summary of the memory map."""
        lines = []
        for v in self.mm.mmap:
            lines.append(
                f"vma{v.id} [{v.vm_start:#x}, {v.vm_end:#x}) {flags_str(v.vm_flags)} "
                f"seq={v.vm_sequence.sequence}"
                + (" no-anon_vma" if v.anon_vma is None else "")
                + (f" vm_ops={v.vm_ops}" if v.vm_ops else "")
                + (f" policy={self.policies[v.vm_policy]}" if v.vm_policy is not None else "")
            )
        return "\n".join(lines)

    # --- checked accesses ----------------------------------------------------

    def store(self, t: Task, pt: PageTablePage, idx: int, e: Entry) -> None:
        """Every store into a page-table entry goes through here (``set_pte_at()``,
        ``ptep_get_and_clear()``, ``pmd_populate()``, ``pmd_clear()`` ...), so the
        invariants about stores are judged where they happen."""
        self.event(t, "store", pt, idx, e)
        pt.set(idx, e)

    def touch(self, start: int, end: int) -> None:
        """A writer changes what ``[start, end)`` translates to (see ``writes``)."""
        self.writes.append((start, end))

    def touched_since(self, n: int, address: int) -> bool:
        """Did a writer touch ``address`` after the first ``n`` writes?"""
        return any(s <= address < e for s, e in self.writes[n:])

    def page_add_rmap(self, t: Task, pfn: int, anon_vma: int | None, index: int) -> None:
        """The page is counted as mapped, reachable from ``anon_vma`` at ``index``."""
        self.pages[pfn] = "mapped"
        self.rmap[pfn] = (anon_vma, index)

    def free_page(self, t: Task, pfn: int) -> None:
        """``put_page()`` of the last reference: no PTE may still point to it."""
        self.pages[pfn] = "freed"
        self.rmap.pop(pfn, None)
        self.event(t, "put_page", pfn)

    def read_entry(self, t: Task, pt: PageTablePage, idx: int) -> Entry:
        """Read an entry (judged: a read of a freed page-table page)."""
        self.event(t, "read_entry", pt, idx)
        return pt.get(idx)

    def table_of(self, t: Task, e: Entry, what: str) -> PageTablePage:
        """``pXd_page(e)`` / ``pmd_page_vaddr(e)``: the table an entry points to.

        Following an entry that is not a table pointer (empty, a huge leaf, a swap
        entry) reads page data or page 0 as if it were a page table: a dereference
        the model names as an oops (``what``: the C that follows it)."""
        if e.kind is not Kind.TABLE:
            oops(f"{what}: follows a {e.kind.value} entry as if it pointed to a "
                 "page table")
        return self.pt_pages[e.target]

    def pte_lockptr(self, t: Task, pmdval: Entry, what: str) -> tuple[PageTablePage, Spinlock]:
        """``pte_lockptr(mm, pmd)``: the split PTE lock lives in the struct page of the
        pte table ``pmdval`` points to; for anything else it is garbage (an oops)."""
        pt = self.table_of(t, pmdval, what)
        if pt.level != "pte":
            oops(f"{what}: pt{pt.id} is a {pt.level} table, it has no PTE lock")
        return pt, self.ptl[pt.id]

    def _vma_locks(self) -> dict[str, str]:
        """Under per-VMA locks, ``mm_lock_seq`` and each VMA's lock beside ``mmap_lock`` (a
        VMA is write-locked while its ``vm_lock_seq`` equals ``mm_lock_seq``)."""
        if self.design != "per-vma":
            return {}
        seq = self.mm.mm_lock_seq.sequence
        out = {"mm_lock_seq": f"{seq} ({'odd: mmap_lock write-held' if seq & 1 else 'even'})"}
        for v in self.vmas.values():
            if v.freed:
                continue
            held = v.vm_lock.snapshot()
            out[f"vma{v.id}.vm_lock"] = ("write-locked (vm_lock_seq = mm_lock_seq)"
                                         if v.vm_lock_seq == seq else held)
        return out

    def use_vma(self, t: Task, vma: VmAreaStruct) -> None:
        """Note a read of a VMA's fields (judged: reading a freed one)."""
        self.event(t, "vma_read", vma)

    def event(self, t: Task, name: str, *what: Any) -> None:
        """The model announces what the kernel just did (``name``: its kernel name, a key of
        :data:`.invariants.JUDGES`); the judge of that event decides, in ``invariants.py``
        alone, whether an invariant broke."""
        invariants.JUDGES[name](self, t, *what)

    def violate(self, invariant: str, what: str) -> None:
        """Record that ``invariant`` (a name from invariants.INVARIANTS) broke: for the judges
        of ``invariants.py`` and the scheduler's verdicts (an oops), nobody else."""
        self.violations.append((invariant, what))
