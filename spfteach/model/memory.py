"""``mm/memory.c``: the fault handlers, classic and speculative.

Read top to bottom beside the C (``kernel/patches/``, applied to 6.1).  Each
``yield`` is one step another CPU can interleave with; between two yields a task
only computes on its own stack.  ``t.check(C.NAME, cond)`` is one of the
registered guards (``checks.py``): it returns whether the guard fires, and a
mutant can switch it off; ``t.branch(...)`` is a test that picks one of two
normal ways on.  Each guard site carries a one-line comment: what goes wrong
without it.

The speculative path (``handle_speculative_fault``) takes no ``mmap_lock``.  It
takes a reference on the VMA, samples its sequence count, reads what it needs
into ``vmf``, walks the page tables with IRQs off (so they cannot be freed under
it) without allocating anything, and re-validates the count before and after
taking the PTE lock.  Any doubt gives ``VM_FAULT_RETRY``: the caller then takes
the classic path under ``mmap_lock``.
"""

from __future__ import annotations

from . import checks as C
from . import pgtable
from .bug import BUG_ON, NotModelled, oops
from .internal import vma_has_changed
from .locking import spin_lock, spin_trylock, spin_unlock
from .mempolicy import __get_vma_policy, get_task_policy, vma_alloc_folio
from .mm_types import (
    FAULT_FLAG_ALLOW_RETRY,
    FAULT_FLAG_INSTRUCTION,
    FAULT_FLAG_INTERRUPTIBLE,
    FAULT_FLAG_KILLABLE,
    FAULT_FLAG_REMOTE,
    FAULT_FLAG_SPECULATIVE,
    FAULT_FLAG_VMA_LOCK,
    FAULT_FLAG_WRITE,
    MPOL_INTERLEAVE,
    VM_EXEC,
    VM_FAULT_OOM,
    VM_FAULT_RETRY,
    VM_FAULT_SIGBUS,
    VM_FAULT_SIGSEGV,
    VM_FAULT_WRITE,
    VM_GROWSDOWN,
    VM_GROWSUP,
    VM_READ,
    VM_SHARED,
    VM_UFFD_MISSING,
    VM_WRITE,
    MmStruct,
    VmAreaStruct,
    VmFault,
    fault_str,
    flags_str,
    linear_page_index,
)
from .mmap import get_vma, put_vma
from .mmu_context import arch_vma_access_permitted
from .pervma.checks import RETRY_GOES_ON
from .pervma.memory import vmf_anon_prepare, vmf_can_call_fault
from .pgtable import Entry, Kind, PageTablePage, PtState
from .rmap import anon_vma_prepare, page_add_anon_rmap, page_add_new_anon_rmap
from .seqlock import raw_read_seqcount, read_seqcount_retry
from .smp import local_irq_disable, local_irq_enable
from .task import Gen, Src, Task
from .wait import OnPteLock

F = "mm/memory.c"


def _s(fn: str, snippet: str, after: str = "") -> Src:
    return Src(F, fn, snippet, after)


def _spec(vmf: VmFault) -> bool:
    return bool(vmf.flags & FAULT_FLAG_SPECULATIVE)


def _av(anon: int | None) -> str:
    return "NULL" if anon is None else f"av{anon}"


# --- the PTE lock helpers -----------------------------------------------------


def pte_spinlock(t: Task, vmf: VmFault) -> Gen:
    """Lock the PTE ``vmf->pte`` points to; speculatively, only if still valid.

    The classic path is inline (as in 6.1: an out-of-line helper cost every
    classic fault a call, patch 11); a speculative fault calls out to
    :func:`pte_spinlock_speculative`."""
    fn = "pte_spinlock"
    k = t.machine
    if _spec(vmf):
        return (yield from pte_spinlock_speculative(t, vmf))
    yield t.at(_s(fn, "vmf->ptl = pte_lockptr(vmf->vma->vm_mm, vmf->pmd);"))  # type: ignore[index]
    pmdval = k.read_entry(t, *vmf.pmd)  # type: ignore[misc]
    _, vmf.ptl = k.pte_lockptr(t, pmdval, "pte_lockptr()")
    t.did(f"reads pmd = {pmdval}: the PTE lock is {vmf.ptl.name}")
    yield from spin_lock(t, vmf.ptl, _s(fn, "spin_lock(vmf->ptl);"))
    return True


def pte_spinlock_speculative(t: Task, vmf: VmFault) -> Gen:
    """pte_spinlock() of a speculative fault: the lock only if the VMA and pmd are
    still those the walk found."""
    fn = "pte_spinlock_speculative"
    # IRQs off: from here on the page tables cannot be freed under us.
    yield from local_irq_disable(t, _s(fn, "local_irq_disable();"))
    ok = yield from _lock_checks(t, vmf, fn, SPINLOCK)
    yield from local_irq_enable(t, _s(fn, "local_irq_enable();", after="out:"))
    return ok


def pte_map_lock(t: Task, vmf: VmFault) -> Gen:
    """Map and lock the PTE for ``vmf->address``; speculatively, only if valid
    (:func:`pte_map_lock_speculative`; the classic path inline, as pte_spinlock())."""
    fn = "pte_map_lock"
    if _spec(vmf):
        return (yield from pte_map_lock_speculative(t, vmf))
    yield from pte_offset_map_lock(
        t, vmf, _s(fn, "vmf->pte = pte_offset_map_lock(vmf->vma->vm_mm, vmf->pmd,"))
    return True


def pte_map_lock_speculative(t: Task, vmf: VmFault) -> Gen:
    """pte_map_lock() of a speculative fault: map and lock only if still valid."""
    fn = "pte_map_lock_speculative"
    yield from local_irq_disable(t, _s(fn, "local_irq_disable();"))
    # The grading hook (Machine.override): the lock-order exercise runs its
    # student's order of these checks in place of the C's.
    checks = t.machine.override.get("pte_map_lock checks", _lock_checks)
    ok = yield from checks(t, vmf, fn, MAPLOCK)
    yield from local_irq_enable(t, _s(fn, "local_irq_enable();", after="out:"))
    return ok


def pte_offset_map_lock(t: Task, vmf: VmFault, src: Src) -> Gen:
    """``vmf->pte = pte_offset_map_lock(mm, vmf->pmd, address, &vmf->ptl)``: read
    *vmf->pmd, map the PTE and take its lock, waiting while it is held.  Only safe
    where nothing can free the page tables (``mmap_lock`` held): it reads the pmd
    with IRQs on and validates nothing."""
    k = t.machine
    pmd_pt, pmd_idx = vmf.pmd  # type: ignore[misc]
    yield t.at(src, waits_on=OnPteLock(k, pmd_pt, pmd_idx))
    e = k.read_entry(t, pmd_pt, pmd_idx)
    pte_pt, vmf.ptl = k.pte_lockptr(t, e, "pte_offset_map_lock()")
    vmf.ptl.owner = t.tid
    vmf.pte = (pte_pt, pgtable.index("pte", vmf.address, k.la57))
    t.did(f"reads *vmf->pmd: {e}; maps pt{pte_pt.id} and takes {vmf.ptl.name}")


#: The guards of each lock helper, in the order they are made, and the C of the
#: steps that differ between the two.
SPINLOCK = {"checks": (C.SPINLOCK_VMA_CHANGED, C.SPINLOCK_PMD_SAME, C.SPINLOCK_TRYLOCK,
                       C.SPINLOCK_VMA_CHANGED_LOCKED),
            "lockptr": "vmf->ptl = pte_lockptr(vmf->vma->vm_mm, &pmdval);",
            "trylock": "if (unlikely(!spin_trylock(vmf->ptl))) {",
            "unlock": "spin_unlock(vmf->ptl);"}
MAPLOCK = {"checks": (C.MAPLOCK_VMA_CHANGED, C.MAPLOCK_PMD_SAME, C.MAPLOCK_TRYLOCK,
                      C.MAPLOCK_VMA_CHANGED_LOCKED),
           "lockptr": "ptl = pte_lockptr(vmf->vma->vm_mm, &pmdval);",
           "trylock": "if (unlikely(!spin_trylock(ptl))) {",
           "unlock": "pte_unmap_unlock(pte, ptl);"}


def _lock_checks(t: Task, vmf: VmFault, fn: str, helper: dict) -> Gen:
    """The part both lock helpers share, in the C's order, IRQs off."""
    k = t.machine
    vma_changed, pmd_same, trylock, vma_changed_locked = helper["checks"]
    # Without it: munmap() may have freed the page tables before IRQs went off,
    # and everything below reads them.
    if t.check(vma_changed, (yield from vma_has_changed(
            t, vmf, _s(fn, "if (vma_has_changed(vmf)) {", after="local_irq_disable();")))):
        return False
    pmd_pt, pmd_idx = vmf.pmd  # type: ignore[misc]
    yield t.at(_s(fn, "pmdval = READ_ONCE(*vmf->pmd);"))
    pmdval = k.read_entry(t, pmd_pt, pmd_idx)
    t.did(f"reads *vmf->pmd: {pmdval} (the walk saw {vmf.orig_pmd})")
    # Without it: khugepaged may have emptied the pmd (collapse): the lock and
    # the PTE below would be computed from an entry that is no table.
    if t.check(pmd_same, not pgtable.pmd_same(pmdval, vmf.orig_pmd),
               f"the walk saw {vmf.orig_pmd}"):
        return False
    # The lock is found through pmdval, not *vmf->pmd again: the pmd may be
    # emptied right after the test above (the port's fix, found by this model).
    yield t.at(_s(fn, helper["lockptr"]))
    pte_pt, ptl = k.pte_lockptr(t, pmdval, "pte_lockptr()")
    k.event(t, "pte_lockptr", pte_pt)
    t.did(f"the PTE lock of pt{pte_pt.id} is {ptl.name}")
    trysrc = _s(fn, helper["trylock"])
    if k.mutated(C.TRYLOCK_IS_LOCK):
        yield from spin_lock(t, ptl, trysrc)
        got = True
    else:
        got = yield from spin_trylock(t, ptl, trysrc)
    # Without it: the holder may be waiting, lock held, for this CPU to answer a
    # TLB-flush IPI, which it cannot with IRQs off.
    if t.check(trylock, not got, "" if got else f"{ptl.name} is busy"):
        return False
    if not got:
        t.note("the fault goes on without the PTE lock")
    changed = yield from vma_has_changed(t, vmf, _s(fn, "if (vma_has_changed(vmf)) {",
                                                    after=helper["trylock"]))
    # Without it: a writer that changed the VMA after the first test and before
    # the lock will not see this PTE (mprotect, munmap, mremap have passed by).
    if t.check(vma_changed_locked, changed):
        if got:
            yield from spin_unlock(t, ptl, _s(fn, helper["unlock"], after=helper["trylock"]))
        return False
    vmf.ptl = ptl
    vmf.pte = (pte_pt, pgtable.index("pte", vmf.address, k.la57))
    return True


def pte_unmap_unlock(t: Task, vmf: VmFault, src: Src) -> Gen:
    assert vmf.ptl is not None
    yield from spin_unlock(t, vmf.ptl, src)


# --- handle_pte_fault ----------------------------------------------------------


def handle_pte_fault(t: Task, vmf: VmFault) -> Gen:
    fn = "handle_pte_fault"
    k = t.machine
    pmd_pt, pmd_idx = vmf.pmd  # type: ignore[misc]
    if _spec(vmf):
        if not (yield from _spf_pmd_stable(t, vmf)):
            return VM_FAULT_RETRY
        # vmf->pte and vmf->orig_pte come from the walk.
    else:
        yield t.at(_s(fn, "} else if (unlikely(pmd_none(*vmf->pmd))) {"))  # type: ignore[arg-type]
        pmdval = k.read_entry(t, pmd_pt, pmd_idx)
        t.did(f"reads *vmf->pmd: {pmdval}")
        if pgtable.pmd_none(pmdval):
            vmf.pte = None
        else:
            if pmdval.kind is not Kind.TABLE:
                # pmd_devmap_trans_unstable(): a huge pmd appeared (THP): return
                # and let the access fault again, to be handled at the pmd level.
                t.refault = True
                return 0
            pte_pt = k.table_of(t, pmdval, "pte_offset_map(vmf->pmd, vmf->address)")
            idx = pgtable.index("pte", vmf.address, k.la57)
            yield t.at(_s(fn, "vmf->orig_pte = *vmf->pte;"))  # type: ignore[arg-type]
            vmf.orig_pte = k.read_entry(t, pte_pt, idx)
            vmf.pte = (pte_pt, idx)
            t.did(f"reads the pte: {vmf.orig_pte}")
            if pgtable.pte_none(vmf.orig_pte):
                vmf.pte = None
    if vmf.pte is None:
        vma = vmf.vma
        assert vma is not None
        if vma.vm_ops is None:  # vma_is_anonymous()
            return (yield from do_anonymous_page(t, vmf))
        # Without it: do_fault() calls vm_ops->fault(), which may sleep, drop
        # mmap_lock (not held) or expect it held.
        if t.check(C.HPF_NO_DO_FAULT, _spec(vmf), "a file fault, not speculatively"):
            return VM_FAULT_RETRY
        return (yield from do_fault(t, vmf))
    assert vmf.orig_pte is not None
    if not pgtable.pte_present(vmf.orig_pte):
        # Without it: do_swap_page() reads *vmf->pmd and takes the PTE lock with
        # IRQs on, where munmap() may free the tables, and validates nothing.
        if t.check(C.HPF_NO_SWAP, _spec(vmf), "a swap-in, not speculatively"):
            return VM_FAULT_RETRY
        return (yield from do_swap_page(t, vmf))
    if not (yield from pte_spinlock(t, vmf)):
        return VM_FAULT_RETRY
    entry = vmf.orig_pte
    pte_pt, idx = vmf.pte
    yield t.at(_s(fn, "if (unlikely(!pte_same(*vmf->pte, entry))) {"))
    cur = k.read_entry(t, pte_pt, idx)
    same = pgtable.pte_same(cur, entry)
    t.did(f"re-reads the pte: {cur}: " + ("unchanged" if same else "changed: nothing to do"))
    if same:
        if vmf.flags & FAULT_FLAG_WRITE:
            if not pgtable.pte_write(entry):
                # Without it: copy-on-write drops the PTE lock and re-takes it with
                # pte_offset_map_lock() (IRQs on, no re-validation), and the new
                # page's rmap is computed from the live VMA.
                if t.check(C.HPF_NO_WP, _spec(vmf), "copy-on-write, not speculatively"):
                    yield from pte_unmap_unlock(t, vmf, _s(
                        fn, "pte_unmap_unlock(vmf->pte, vmf->ptl);",
                        after="if (!pte_write(entry)) {"))
                    return VM_FAULT_RETRY
                return (yield from do_wp_page(t, vmf))
            entry = entry.with_(dirty=True)  # pte_mkdirty()
        entry = entry.with_(accessed=True)  # pte_mkyoung()
        yield t.at(_s(fn, "if (ptep_set_access_flags(vmf->vma, vmf->address, vmf->pte, entry,"))
        k.store(t, pte_pt, idx, entry)
        t.did(f"sets the accessed/dirty bits: pte = {entry}")
    yield from pte_unmap_unlock(t, vmf, _s(fn, "pte_unmap_unlock(vmf->pte, vmf->ptl);",
                                           after="unlock:"))
    return 0


def _spf_pmd_stable(t: Task, vmf: VmFault) -> Gen:
    """The speculative branch at the top of handle_pte_fault(): IRQs off, VMA
    unchanged, then read the pmd.  Empty means the pte table went away or a THP
    collapse is under way: retry under mmap_lock."""
    fn = "handle_pte_fault"
    k = t.machine
    pmd_pt, pmd_idx = vmf.pmd  # type: ignore[misc]
    yield from local_irq_disable(t, _s(fn, "local_irq_disable();"))
    # Without it: IRQs were on since the walk, so munmap() may have freed the
    # pmd's table: *vmf->pmd below would read freed memory (the seed did).
    if t.check(C.HPF_VMA_CHANGED,
               (yield from vma_has_changed(t, vmf, _s(fn, "if (vma_has_changed(vmf)) {")))):
        yield from local_irq_enable(t, _s(fn, "local_irq_enable();",
                                          after="if (vma_has_changed(vmf)) {"))
        return False
    yield t.at(_s(fn, "pmdval = READ_ONCE(*vmf->pmd);"))
    pmdval = k.read_entry(t, pmd_pt, pmd_idx)
    t.did(f"reads *vmf->pmd: {pmdval}")
    yield from local_irq_enable(t, _s(fn, "local_irq_enable();",
                                      after="pmdval = READ_ONCE(*vmf->pmd);"))
    # Without it: the fault would go on with a pte table the pmd no longer holds.
    return not t.check(C.HPF_PMD_NONE, pgtable.pmd_none(pmdval), "the pmd was emptied")


# --- page-table allocation (classic only) -----------------------------------------


def pte_alloc(t: Task, mm: MmStruct, vmf: VmFault) -> Gen:
    """``pte_alloc()``: allocate a pte table if the pmd is empty.  False = OOM."""
    k = t.machine
    pmd_pt, pmd_idx = vmf.pmd  # type: ignore[misc]
    yield t.at(_s("do_anonymous_page", "if (pte_alloc(vma->vm_mm, vmf->pmd))"))
    e = k.read_entry(t, pmd_pt, pmd_idx)
    t.did(f"pte_alloc() reads the pmd: {e}")
    if not pgtable.pmd_none(e):
        return True
    return (yield from __pXd_alloc(t, mm, pmd_pt, pmd_idx, "pte", vmf.address))


def __pXd_alloc(t: Task, mm: MmStruct, parent: PageTablePage, idx: int, level: str,
                address: int) -> Gen:
    """``__pte_alloc()`` / ``__pmd_alloc()`` …: allocate, then populate under the
    page-table lock unless another thread populated the entry first.  The
    allocation runs before the first step (the caller's step writes ``ALLOC``)."""
    k = t.machine
    fn = {"pte": "__pte_alloc", "pmd": "__pmd_alloc", "pud": "__pud_alloc",
          "p4d": "__p4d_alloc"}[level]
    new = k.alloc_pt(level, address)
    # __pte_alloc() installs through pmd_install(), __pmd_alloc() under pud_lock()
    lock = {"pte": Src(F, "pmd_install", "spinlock_t *ptl = pmd_lock(mm, pmd);"),
            "pmd": _s(fn, "ptl = pud_lock(mm, pud);")}.get(
                level, _s(fn, "spin_lock(&mm->page_table_lock);"))
    unlock = {"pte": Src(F, "pmd_install", "spin_unlock(ptl);"),
              "pmd": _s(fn, "spin_unlock(ptl);")}.get(
                  level, _s(fn, "spin_unlock(&mm->page_table_lock);"))
    yield from spin_lock(t, mm.page_table_lock, lock)
    populate = {"pte": "pmd_populate(mm, pmd, new);", "pmd": "pud_populate(mm, pud, new);",
                "pud": "p4d_populate(mm, p4d, new);", "p4d": "pgd_populate(mm, pgd, new);"}
    yield t.at(Src(F, "pmd_install", "pmd_populate(mm, pmd, *pte);") if level == "pte"
               else _s(fn, populate[level]))
    if parent.get(idx).kind is Kind.NONE:
        k.store(t, parent, idx, Entry(Kind.TABLE, new.id))
        new.state = PtState.LINKED
        k.event(t, "pmd_populate", parent, new)
        t.did(f"links new {level} table pt{new.id} at pt{parent.id}[{idx}]")
    else:
        new.state = PtState.FREED
        t.did(f"pt{parent.id}[{idx}] was populated meanwhile; frees pt{new.id}")
    yield from spin_unlock(t, mm.page_table_lock, unlock)
    return True


# --- do_anonymous_page ------------------------------------------------------------


def do_anonymous_page(t: Task, vmf: VmFault) -> Gen:
    """A fault on an empty PTE of an anonymous VMA.

    Reads map the shared zero page read-only; writes get a fresh zeroed page.
    The PTE value is built from ``vmf->vma_flags``/``vma_page_prot`` — the
    snapshot validated by ``pte_map_lock()`` — not from the live VMA.
    """
    fn = "do_anonymous_page"
    k = t.machine
    vma = vmf.vma
    assert vma is not None
    if vmf.vma_flags & VM_SHARED:  # File mapping without ->vm_ops?
        return VM_FAULT_SIGBUS
    # Speculatively the walk found the pte table and pte_map_lock() re-checks it
    # with IRQs off; allocating one here could link it into a table munmap()
    # just unlinked (the seed still called pte_alloc() on this path).
    if not t.branch(C.ANON_NO_PTE_ALLOC, _spec(vmf),
                    "speculative: goto skip_pmd (the walk found the pte table; no pte_alloc())",
                    "classic: pte_alloc() if the pmd is empty"):
        if not (yield from pte_alloc(t, vma_mm(k), vmf)):
            return VM_FAULT_OOM
        pmd_pt, pmd_idx = vmf.pmd  # type: ignore[misc]
        yield t.at(_s(fn, "if (unlikely(pmd_trans_unstable(vmf->pmd)))"))
        e = k.read_entry(t, pmd_pt, pmd_idx)
        unstable = e.kind is not Kind.TABLE
        t.did(f"reads the pmd: {e}" + (": unstable, return and refault" if unstable
                                       else ": a table"))
        if unstable:
            t.refault = True
            return 0
    if not vmf.flags & FAULT_FLAG_WRITE:
        return (yield from _zero_page(t, vmf))
    # Allocate our own private page (its reverse mapping needs an anon_vma).
    if _spec(vmf):
        yield t.at(_s(fn, "if (unlikely(!READ_ONCE(vma->anon_vma))) {"))
        k.use_vma(t, vma)
        anon = vma.anon_vma
        t.did(f"reads vma->anon_vma: {_av(anon)}")
        # Without it: an anon_vma reset since the start (MREMAP_DONTUNMAP) would
        # need preparing again, which needs mmap_lock.
        if t.check(C.ANON_NO_ANON_VMA, anon is None):
            return VM_FAULT_RETRY
    elif vmf.flags & FAULT_FLAG_VMA_LOCK:
        # 6.12: only the VMA is locked; anon_vma needs mmap_lock as well
        ret = yield from vmf_anon_prepare(t, vmf)
        if ret and not (ret & VM_FAULT_RETRY and k.mutated(RETRY_GOES_ON)):
            return ret
    elif not (yield from anon_vma_prepare(t, vma)):
        return VM_FAULT_OOM
    yield t.at(_s(fn, "page = alloc_zeroed_user_highpage_movable(vma, vmf->address);"),
               local=True)
    t.did("alloc_zeroed_user_highpage_movable(): vma_alloc_folio() picks the node")
    pfn = yield from vma_alloc_folio(t, vma, vmf.address)
    write = bool(vmf.vma_flags & VM_WRITE)
    entry = Entry(Kind.PAGE, pfn, write=write, dirty=write)  # mk_pte(), pte_mkwrite()
    anon_vma, index = None, 0
    if _spec(vmf):
        # What the rmap needs is read before pte_map_lock()'s last check vouches
        # for it: a split after that check does not take the PTE lock.
        yield t.at(_s(fn, "anon_vma = READ_ONCE(vma->anon_vma);"))
        k.use_vma(t, vma)
        anon_vma = vma.anon_vma
        t.did(f"reads vma->anon_vma: {_av(anon_vma)}")
        yield t.at(_s(fn, "index = linear_page_index(vma, vmf->address);"))
        k.use_vma(t, vma)
        index = linear_page_index(vma, vmf.address)
        t.did(f"reads vma->vm_start, vma->vm_pgoff: index = {index:#x}")
    if not (yield from pte_map_lock(t, vmf)):
        yield from _release(t, pfn, "release_unlocked:")
        return VM_FAULT_RETRY
    if not (yield from _pte_still_none(t, vmf, "goto release_unlocked;")):
        yield from _release(t, pfn, "release:")
        yield from pte_unmap_unlock(t, vmf, _s(fn, "pte_unmap_unlock(vmf->pte, vmf->ptl);",
                                               after="unlock:"))
        return 0
    if not t.branch(C.ANON_UFFD, _spec(vmf), "speculative: no userfaultfd_missing() test",
                    "classic: test userfaultfd_missing() under the PTE lock"):
        if (yield from _userfaultfd_missing(t, vma, C.ANON_UFFD.snippet)):
            k.free_page(t, pfn)  # put_page(page) before handle_userfault()
            return (yield from handle_userfault(t, vmf))
    if _spec(vmf):
        yield t.at(_s(fn, "__page_add_new_anon_rmap(page, anon_vma, index);"))
        BUG_ON(anon_vma is None, "__page_add_new_anon_rmap() with anon_vma == NULL: "
                                 "BUG_ON(!anon_vma) in __page_set_anon_rmap()")
        k.page_add_rmap(t, pfn, anon_vma, index)
        t.did(f"page{pfn}: rmap av{anon_vma}, index {index:#x} (read before the last check)")
    else:
        yield from page_add_new_anon_rmap(t, pfn, vma, vmf.address,
                                          _s(fn, "page_add_new_anon_rmap(page, vma, "
                                                 "vmf->address);"))
    return (yield from _setpte(t, vmf, entry))


def _zero_page(t: Task, vmf: VmFault) -> Gen:
    """The read branch of do_anonymous_page(): map the shared zero page."""
    fn = "do_anonymous_page"
    vma = vmf.vma
    assert vma is not None
    entry = Entry(Kind.PAGE, 0, write=False, special=True)  # pte_mkspecial(my_zero_pfn)
    if not (yield from pte_map_lock(t, vmf)):
        return VM_FAULT_RETRY
    if not (yield from _pte_still_none(t, vmf, "entry = pte_mkspecial(pfn_pte(my_zero_pfn(")):
        yield from pte_unmap_unlock(t, vmf, _s(fn, "pte_unmap_unlock(vmf->pte, vmf->ptl);",
                                               after="unlock:"))
        return 0
    # The speculative path refused VM_UFFD_MISSING at its start; a registration
    # since is ordered after this fault.
    if t.branch(C.ANON_UFFD_ZERO, _spec(vmf),
                "speculative: goto setpte (no userfaultfd_missing() test)",
                "classic: test userfaultfd_missing() under the PTE lock"):
        return (yield from _setpte(t, vmf, entry))
    if (yield from _userfaultfd_missing(t, vma, "if (userfaultfd_missing(vma)) {")):
        return (yield from handle_userfault(t, vmf))
    return (yield from _setpte(t, vmf, entry))


def _release(t: Task, pfn: int, label: str) -> Gen:
    """``release: put_page(page)``: the page we allocated is not used."""
    yield t.at(_s("do_anonymous_page", "put_page(page);", after=label))
    t.machine.free_page(t, pfn)
    t.did(f"frees page{pfn}: not mapped")


def vma_mm(k) -> MmStruct:
    return k.mm


def _pte_still_none(t: Task, vmf: VmFault, after: str = "") -> Gen:
    pte_pt, idx = vmf.pte  # type: ignore[misc]
    yield t.at(_s("do_anonymous_page", "if (!pte_none(*vmf->pte)) {", after=after))
    cur = t.machine.read_entry(t, pte_pt, idx)
    t.did(f"reads the pte: {cur}" + ("" if pgtable.pte_none(cur)
                                      else ": someone mapped it first"))
    return pgtable.pte_none(cur)


def _userfaultfd_missing(t: Task, vma: VmAreaStruct, snippet: str) -> Gen:
    yield t.at(_s("do_anonymous_page", snippet))
    t.machine.use_vma(t, vma)
    missing = bool(vma.vm_flags & VM_UFFD_MISSING)
    t.did("reads vma->vm_flags: userfaultfd_missing() is " + ("true" if missing else "false"))
    return missing


def handle_userfault(t: Task, vmf: VmFault) -> Gen:
    """Hand the fault to user space.  It releases ``mmap_lock`` while it waits —
    which is only legal for a fault that holds it."""
    # drops the PTE lock if it holds it; asks whether it holds mmap_lock
    if vmf.flags & FAULT_FLAG_VMA_LOCK:
        # 6.12: release_fault_lock(vmf) drops the VMA lock instead
        from .pervma.memory import handle_userfault_vma_locked

        return (yield from handle_userfault_vma_locked(t, vmf))
    yield t.at(Src("fs/userfaultfd.c", "handle_userfault", "mmap_read_unlock(mm);"))
    if vmf.ptl is not None and vmf.ptl.owner == t.tid:
        vmf.ptl.owner = None  # pte_unmap_unlock() before the call
    t.machine.event(t, "handle_userfault")
    t.did("hands the fault to the userfaultfd monitor (VM_FAULT_RETRY)")
    return VM_FAULT_RETRY


def _setpte(t: Task, vmf: VmFault, entry: Entry) -> Gen:
    """``setpte: set_pte_at(...)``, then ``unlock:``."""
    fn = "do_anonymous_page"
    k = t.machine
    pte_pt, idx = vmf.pte  # type: ignore[misc]
    yield t.at(_s(fn, "set_pte_at(vma->vm_mm, vmf->address, vmf->pte, entry);"))
    k.event(t, "set_pte_at", vmf.vma, vmf.vma_flags, vmf.address)
    k.store(t, pte_pt, idx, entry)
    t.did(f"installs pte = {entry} at pt{pte_pt.id}[{idx}]")
    yield from pte_unmap_unlock(t, vmf, _s(fn, "pte_unmap_unlock(vmf->pte, vmf->ptl);",
                                           after="unlock:"))
    return 0


# --- swap-in, file faults, copy-on-write (classic; speculative only in mutants) -----


def do_swap_page(t: Task, vmf: VmFault) -> Gen:
    """Bring a swapped-out anonymous page back (the generic readahead path).

    Under ``mmap_lock`` nothing can free the page tables; the speculative path
    never comes here (``hpf_no_swap``).  A migration or device entry is not
    modelled."""
    fn = "do_swap_page"
    k = t.machine
    vma = vmf.vma
    assert vma is not None and vmf.orig_pte is not None
    if vmf.orig_pte.kind is not Kind.SWAP:
        raise NotModelled(f"do_swap_page() of a {vmf.orig_pte.kind.value} pte")
    slot = vmf.orig_pte.target
    yield t.at(_s(fn, "si = get_swap_device(entry);"))
    if slot not in k.swap:
        t.did(f"swap entry {slot} was freed: nothing to read, return 0 and refault")
        t.refault = True
        return 0
    t.did(f"swap entry {slot} is in use")
    pmd_pt, pmd_idx = vmf.pmd  # type: ignore[misc]
    yield t.at(_s(fn, "page = swapin_readahead(entry, GFP_HIGHUSER_MOVABLE,"))
    # swap_vma_readahead() looks at the neighbouring PTEs through vmf->pmd
    pmdval = k.read_entry(t, pmd_pt, pmd_idx)
    k.use_vma(t, vma)
    pfn = k.alloc_page()
    t.did(f"reads *vmf->pmd ({pmdval}) for readahead; page{pfn} read from swap entry {slot}")
    yield from pte_offset_map_lock(t, vmf, _s(
        fn, "vmf->pte = pte_offset_map_lock(vma->vm_mm, vmf->pmd, vmf->address,",
        after="cgroup_throttle_swaprate(page, GFP_KERNEL);"))
    pte_pt, idx = vmf.pte
    yield t.at(_s(fn, "if (unlikely(!pte_same(*vmf->pte, vmf->orig_pte)))",
                  after="cgroup_throttle_swaprate(page, GFP_KERNEL);"))
    cur = k.read_entry(t, pte_pt, idx)
    t.did(f"re-reads the pte: {cur}")
    if not pgtable.pte_same(cur, vmf.orig_pte):
        k.free_page(t, pfn)
        yield from pte_unmap_unlock(t, vmf, _s(fn, "pte_unmap_unlock(vmf->pte, vmf->ptl);",
                                               after="out_nomap:"))
        return 0
    yield t.at(_s(fn, "swap_free(entry);"))
    k.swap.pop(slot, None)
    t.did(f"frees swap entry {slot}")
    yield from page_add_anon_rmap(t, pfn, vma, vmf.address,
                                  _s(fn, "page_add_anon_rmap(page, vma, vmf->address, "
                                         "rmap_flags);"))
    k.use_vma(t, vma)
    write = bool(vmf.flags & FAULT_FLAG_WRITE)
    pte = Entry(Kind.PAGE, pfn, write=write and bool(vma.vm_flags & VM_WRITE), dirty=write)
    yield t.at(_s(fn, "set_pte_at(vma->vm_mm, vmf->address, vmf->pte, pte);"))
    k.store(t, pte_pt, idx, pte)
    t.did(f"installs pte = {pte} (mk_pte() and maybe_mkwrite() read the live VMA)")
    yield from pte_unmap_unlock(t, vmf, _s(fn, "pte_unmap_unlock(vmf->pte, vmf->ptl);",
                                           after="unlock:"))
    return VM_FAULT_WRITE if write else 0


_FF_UNLOCK = Src(F, "finish_fault", "pte_unmap_unlock(vmf->pte, vmf->ptl);")


def do_fault(t: Task, vmf: VmFault) -> Gen:
    """A fault in a VMA with ``vm_ops``: ``->fault()`` supplies the page.

    The model's ``vm_ops`` provide a fresh page (a file page brought in), mapped
    with the VMA's rights — enough to give the classic path something to do.
    """
    k = t.machine
    vma = vmf.vma
    assert vma is not None
    if k.design == "per-vma":
        ret = yield from vmf_can_call_fault(t, vmf, vma)
        if ret:
            return ret
    yield t.at(Src(F, "__do_fault", "ret = vma->vm_ops->fault(vmf);"))
    k.event(t, "vm_ops->fault", vma)
    pfn = k.alloc_page()
    t.did(f"{vma.vm_ops}->fault() returns page{pfn}")
    pmd_pt, pmd_idx = vmf.pmd  # type: ignore[misc]
    yield t.at(Src(F, "finish_fault", "if (pmd_none(*vmf->pmd)) {"))
    e = k.read_entry(t, pmd_pt, pmd_idx)
    t.did(f"reads *vmf->pmd: {e}")
    if pgtable.pmd_none(e):
        yield from __pXd_alloc(t, vma_mm(k), pmd_pt, pmd_idx, "pte", vmf.address)
    yield from pte_offset_map_lock(
        t, vmf, Src(F, "finish_fault", "vmf->pte = pte_offset_map_lock(vma->vm_mm, vmf->pmd,"))
    pte_pt, idx = vmf.pte
    yield t.at(Src(F, "finish_fault", "if (likely(!vmf_pte_changed(vmf))) {"))
    cur = k.read_entry(t, pte_pt, idx)
    t.did(f"reads the pte: {cur}")
    if not pgtable.pte_none(cur):
        k.free_page(t, pfn)
        yield from pte_unmap_unlock(t, vmf, _FF_UNLOCK)
        return 0
    entry = Entry(Kind.PAGE, pfn, write=bool(vmf.vma_flags & VM_WRITE))
    yield t.at(Src(F, "finish_fault", "do_set_pte(vmf, page, vmf->address);"))
    k.pages[pfn] = "mapped"  # page_add_file_rmap(): the file's mapping, not an anon_vma
    k.store(t, pte_pt, idx, entry)
    t.did(f"installs pte = {entry} at pt{pte_pt.id}[{idx}]")
    yield from pte_unmap_unlock(t, vmf, _FF_UNLOCK)
    return 0


def do_wp_page(t: Task, vmf: VmFault) -> Gen:
    """A write to a present read-only PTE, PTE lock held.

    An anonymous page only this VMA maps is reused (made writable in place);
    the zero page is copied (``wp_page_copy()``).
    """
    fn = "do_wp_page"
    k = t.machine
    entry = vmf.orig_pte
    vma = vmf.vma
    assert entry is not None and vmf.pte is not None and vma is not None
    pte_pt, idx = vmf.pte
    if not entry.special:  # vm_normal_page() found a page: PageAnonExclusive, reuse
        yield t.at(Src(F, "wp_page_reuse",
                       "if (ptep_set_access_flags(vma, vmf->address, vmf->pte, entry, 1))"))
        k.use_vma(t, vma)
        new = entry.with_(write=bool(vma.vm_flags & VM_WRITE), accessed=True, dirty=True)
        k.store(t, pte_pt, idx, new)
        t.did(f"reuses page{entry.target}: pte = {new} (maybe_mkwrite() reads vma->vm_flags)")
        yield from pte_unmap_unlock(t, vmf, Src(F, "wp_page_reuse",
                                                "pte_unmap_unlock(vmf->pte, vmf->ptl);"))
        return VM_FAULT_WRITE
    # The zero page: drop the lock, allocate, take it again and re-check.
    yield from pte_unmap_unlock(t, vmf, _s(fn, "pte_unmap_unlock(vmf->pte, vmf->ptl);",
                                           after="return wp_pfn_shared(vmf);"))
    return (yield from wp_page_copy(t, vmf))


def wp_page_copy(t: Task, vmf: VmFault) -> Gen:
    fn = "wp_page_copy"
    k = t.machine
    vma = vmf.vma
    assert vma is not None
    if vmf.flags & FAULT_FLAG_VMA_LOCK:
        ret = yield from vmf_anon_prepare(t, vmf)
        if ret:
            return ret
    elif not (yield from anon_vma_prepare(t, vma)):
        return VM_FAULT_OOM
    yield t.at(_s(fn, "new_page = alloc_zeroed_user_highpage_movable(vma,"), local=True)
    t.did("a new page to replace the zero page")
    pfn = yield from vma_alloc_folio(t, vma, vmf.address)
    yield from pte_offset_map_lock(t, vmf, _s(
        fn, "vmf->pte = pte_offset_map_lock(mm, vmf->pmd, vmf->address, &vmf->ptl);"))
    pte_pt, idx = vmf.pte
    yield t.at(_s(fn, "if (likely(pte_same(*vmf->pte, vmf->orig_pte))) {"))
    cur = k.read_entry(t, pte_pt, idx)
    if pgtable.pte_same(cur, vmf.orig_pte):
        t.did(f"re-reads the pte: {cur}: unchanged")
        yield from page_add_new_anon_rmap(t, pfn, vma, vmf.address,
                                          _s(fn, "page_add_new_anon_rmap(new_page, vma, "
                                                 "vmf->address);"))
        yield t.at(_s(fn, "set_pte_at_notify(mm, vmf->address, vmf->pte, entry);"))
        k.use_vma(t, vma)
        new = Entry(Kind.PAGE, pfn, write=bool(vma.vm_flags & VM_WRITE), accessed=True,
                    dirty=True)
        k.store(t, pte_pt, idx, new)
        t.did(f"installs pte = {new}")
    else:
        t.did(f"re-reads the pte: {cur}: changed meanwhile, the copy is dropped")
        k.free_page(t, pfn)
    yield from pte_unmap_unlock(t, vmf, _s(fn, "pte_unmap_unlock(vmf->pte, vmf->ptl);",
                                           after="update_mmu_tlb(vma, vmf->address,"))
    return 0


# --- the classic entry ---------------------------------------------------------


def __handle_mm_fault(t: Task, vma: VmAreaStruct, address: int, flags: int) -> Gen:
    """Walk, allocating missing levels; ``mmap_lock`` is held for reading."""
    fn = "__handle_mm_fault"
    k = t.machine
    mm = vma_mm(k)
    vmf = VmFault(address, flags=flags, vma=vma)
    vmf.vma_flags = vma.vm_flags
    vmf.vma_page_prot = vma.vm_page_prot
    pt: PageTablePage = mm.pgd
    alloc_src = {"p4d": "p4d = p4d_alloc(mm, pgd, address);",
                 "pud": "vmf.pud = pud_alloc(mm, p4d, address);",
                 "pmd": "vmf.pmd = pmd_alloc(mm, vmf.pud, address);"}
    for upper, lower in (("pgd", "p4d"), ("p4d", "pud"), ("pud", "pmd")):
        if upper == "pgd" and k.folded:
            continue  # p4d_alloc() of a folded p4d returns the pgd itself
        idx = pgtable.index(upper, address, k.la57)
        yield t.at(_s(fn, alloc_src[lower]))
        e = k.read_entry(t, pt, idx)
        t.did(f"reads {upper}[{idx}]: {e}")
        if e.kind is Kind.NONE:
            yield from __pXd_alloc(t, mm, pt, idx, lower, address)
            e = pt.get(idx)
        if e.kind is not Kind.TABLE:
            return (yield from _huge_entry_fault(t, pt, idx, e, upper, flags))
        pt = k.pt_pages[e.target]
    vmf.pmd = (pt, pgtable.index("pmd", address, k.la57))
    # Record the count even on the classic path (as the port does): the PTE lock
    # helpers do not re-check it when not speculative.  (6.12 has no count.)
    if k.design != "per-vma":
        vmf.sequence = (yield from raw_read_seqcount(
            t, vma.vm_sequence, _s(fn, "vmf.sequence = raw_read_seqcount(&vma->vm_sequence);")))
    yield t.at(_s(fn, "vmf.orig_pmd = *vmf.pmd;"))
    vmf.orig_pmd = k.read_entry(t, *vmf.pmd)
    t.did(f"reads pmd[{vmf.pmd[1]}]: {vmf.orig_pmd}")
    if vmf.orig_pmd.kind not in (Kind.NONE, Kind.TABLE):
        return (yield from _huge_entry_fault(t, pt, vmf.pmd[1], vmf.orig_pmd, "pmd", flags))
    return (yield from handle_pte_fault(t, vmf))


def _huge_entry_fault(t: Task, pt: PageTablePage, idx: int, e: Entry, level: str,
                      flags: int) -> Gen:
    """A leaf or special entry above the pte level, on the classic path.

    A migrating huge pmd: wait for the migration and let the access retry.  A
    huge or device mapping: only the accessed/dirty bits need setting.  Copying
    a huge page on write (``wp_huge_pmd()``) is not modelled.
    """
    fn = "__handle_mm_fault"
    if e.kind is Kind.SWAP and level == "pmd":
        yield t.at(_s(fn, "pmd_migration_entry_wait(mm, vmf.pmd);"))
        t.did("huge pmd under migration: wait for it, then return and refault")
        t.refault = True
        return 0
    if e.kind in (Kind.HUGE, Kind.DEVMAP) and level in ("pud", "pmd"):
        write = bool(flags & FAULT_FLAG_WRITE)
        if write and not e.write:
            raise NotModelled(f"wp_huge_{level}(): copy-on-write of a huge page is not modelled")
        snippet = ("huge_pud_set_accessed(&vmf, orig_pud);" if level == "pud"
                   else "huge_pmd_set_accessed(&vmf);")
        yield t.at(_s(fn, snippet))
        new = e.with_(accessed=True, dirty=e.dirty or write)
        t.machine.store(t, pt, idx, new)
        t.did(f"huge {level} already maps the address: set accessed{'/dirty' if write else ''}")
        return 0
    raise NotModelled(f"{e.kind.value} {level} entry in the classic path")


def handle_mm_fault(t: Task, vma: VmAreaStruct, address: int, flags: int) -> Gen:
    ret = yield from __handle_mm_fault(t, vma, address, flags)
    return ret


# --- the speculative entry -------------------------------------------------------


def handle_speculative_fault(t: Task, mm: MmStruct, address: int, flags: int) -> Gen:
    """Try to handle a user fault without ``mmap_lock``; ``VM_FAULT_RETRY`` = give up.

    The C is one function with two exit labels; here its three parts are three
    generators: the VMA checks (``_hsf_vma``), the walk (``_hsf_walk``), and this
    one, which owns the labels ``out_walk`` (IRQs back on) and ``out_put``."""
    fn = "handle_speculative_fault"
    vmf = VmFault(address)
    t.in_spf = True
    reached_hpf = False  # which put_vma() line it leaves by
    vma = yield from get_vma(t, mm, address)  # the initialiser of `vma`
    # Nothing below may drop mmap_lock (it is not held) or wait killably for it.
    yield t.at(_s(fn, "flags |= FAULT_FLAG_SPECULATIVE;"), local=True)
    if not t.machine.mutated(C.SPF_FLAGS):
        flags &= ~(FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE | FAULT_FLAG_INTERRUPTIBLE)
        flags |= FAULT_FLAG_SPECULATIVE
        t.did("flags: ALLOW_RETRY, KILLABLE and INTERRUPTIBLE cleared, SPECULATIVE set")
    else:
        t.did("(mutant) flags left as the caller passed them")
    # Without it: there is nothing to fault in; the classic path decides
    # between stack expansion and SIGSEGV.
    if t.check(C.SPF_NO_VMA, vma is None):
        t.in_spf = False
        return VM_FAULT_RETRY
    if vma is None:  # reachable only with spf_no_vma removed
        oops("dereferences vma == NULL: raw_read_seqcount(&vma->vm_sequence)")
    vmf.vma = vma
    ret = yield from _hsf_vma(t, mm, vma, vmf, address, flags)
    irqs_off = False
    if ret is None:
        ret, irqs_off = yield from _hsf_walk(t, mm, vmf, address)
    if irqs_off:
        yield from local_irq_enable(t, _s(fn, "local_irq_enable();", after="out_walk:"))
    elif ret is None:
        # The flags and bounds were read one at a time; only now do we know they
        # were read from one consistent version of the VMA.  Without it: a split
        # between the first count read and here goes unnoticed until the lock.
        if t.check(C.SPF_SEQ_RETRY, (yield from read_seqcount_retry(
                t, vma.vm_sequence, vmf.sequence,
                _s(fn, "if (read_seqcount_retry(&vma->vm_sequence, seq)) {")))):
            ret = VM_FAULT_RETRY
        else:
            reached_hpf = True
            ret = yield from handle_pte_fault(t, vmf)
    # Every path that took the reference drops it: after handle_pte_fault(), or
    # at the out_put label.
    put = _s(fn, "put_vma(vma);", after="ret = handle_pte_fault(&vmf);" if reached_hpf
             else "out_put:")
    if t.machine.mutated(C.SPF_PUT_VMA):
        yield t.at(put)
        t.did("(mutant) returns without put_vma(): the reference leaks")
    else:
        yield from put_vma(t, vma, put)
    t.note(f"handle_speculative_fault returns {fault_str(ret)}")
    t.in_spf = False
    return ret


def _hsf_vma(t: Task, mm: MmStruct, vma: VmAreaStruct, vmf: VmFault, address: int,
             flags: int) -> Gen:
    """handle_speculative_fault(), first part: what the fault reads from the VMA,
    and whether the path can handle this VMA at all.  Returns None to go on to
    the walk, or the fault result (the caller goes to ``out_put``)."""
    fn = "handle_speculative_fault"
    k = t.machine
    seq = yield from raw_read_seqcount(
        t, vma.vm_sequence, _s(fn, "seq = raw_read_seqcount(&vma->vm_sequence);"))
    k.use_vma(t, vma)
    vmf.sequence = seq
    # Without it: a snapshot taken while a writer is inside could be validated
    # against the same odd count later (mremap's new VMA stays odd while the PTEs
    # move in).
    if t.check(C.SPF_SEQ_ODD, bool(seq & 1), f"seq {seq}: a writer is inside"):
        return VM_FAULT_RETRY

    yield t.at(_s(fn, "if (vma->vm_ops) {"))
    k.use_vma(t, vma)
    t.did(f"reads vma->vm_ops: {vma.vm_ops or 'NULL'}")
    # Without it: a file VMA goes on to handle_pte_fault(), whose only speculative
    # answer to it is hpf_no_do_fault.
    if t.check(C.SPF_VM_OPS, vma.vm_ops is not None, f"vm_ops {vma.vm_ops}"):
        return VM_FAULT_RETRY

    yield t.at(_s(fn, "if (unlikely(!vma->anon_vma)) {"))
    k.use_vma(t, vma)
    anon = vma.anon_vma
    t.did(f"reads vma->anon_vma: {_av(anon)}")
    # Without it: the first write fault of a VMA would have to prepare its
    # anon_vma, which looks at the neighbours and needs mmap_lock.
    if t.check(C.SPF_NO_ANON_VMA, anon is None, "the first fault of this VMA"):
        return VM_FAULT_RETRY

    yield t.at(_s(fn, "vmf.vma_flags = READ_ONCE(vma->vm_flags);"))
    k.use_vma(t, vma)
    vmf.vma_flags = vma.vm_flags
    t.did(f"reads vma->vm_flags: {flags_str(vmf.vma_flags)}")
    yield t.at(_s(fn, "vmf.vma_page_prot = READ_ONCE(vma->vm_page_prot);"))
    k.use_vma(t, vma)
    vmf.vma_page_prot = vma.vm_page_prot
    t.did(f"reads vma->vm_page_prot: {vmf.vma_page_prot}")
    # Without it: a missing page in a userfaultfd range would be mapped instead
    # of handed to the monitor.
    if t.check(C.SPF_UFFD_MISSING, bool(vmf.vma_flags & VM_UFFD_MISSING),
               "registered with userfaultfd"):
        return VM_FAULT_RETRY
    # Without it: a stack VMA is faulted like any other (see the registry).
    if t.check(C.SPF_GROWS, bool(vmf.vma_flags & VM_GROWSDOWN or vmf.vma_flags & VM_GROWSUP),
               "a stack"):
        return VM_FAULT_RETRY

    yield t.at(_s(fn, "if (address < READ_ONCE(vma->vm_start) ||"))
    k.use_vma(t, vma)
    start, end = vma.vm_start, vma.vm_end
    t.did(f"reads vma->vm_start, vm_end: [{start:#x}, {end:#x})")
    # Without it: a VMA split since the lookup may no longer cover the address,
    # and the page would get its rmap index from the wrong VMA.
    if t.check(C.SPF_BOUNDS, address < start or end <= address,
               f"{address:#x} is outside"):
        return VM_FAULT_RETRY

    write = bool(flags & FAULT_FLAG_WRITE)
    yield t.at(_s(fn, "if (!arch_vma_access_permitted(vma, flags & FAULT_FLAG_WRITE,"))
    k.use_vma(t, vma)
    pkey = vma.vm_pkey
    allowed = arch_vma_access_permitted(k, pkey, write, bool(flags & FAULT_FLAG_INSTRUCTION),
                                        bool(flags & FAULT_FLAG_REMOTE))
    t.did(f"protection key {pkey}: " + ("access allowed" if allowed else "access denied by PKRU"))
    # Without it: the page is mapped, but the MMU still denies the key: the
    # access faults again, forever.
    if t.check(C.SPF_ARCH_ACCESS, not allowed, f"PKRU denies key {pkey}"):
        return VM_FAULT_SIGSEGV
    if write:
        # Without it: a writable PTE in a VMA without VM_WRITE.
        if t.check(C.SPF_WRITE_ACCESS, not vmf.vma_flags & VM_WRITE,
                   "a write to a VMA without VM_WRITE"):
            return VM_FAULT_SIGSEGV
    # Without it: a PTE in a PROT_NONE VMA.
    elif t.check(C.SPF_READ_ACCESS, not vmf.vma_flags & (VM_READ | VM_EXEC | VM_WRITE),
                 "PROT_NONE"):
        return VM_FAULT_SIGSEGV

    yield t.at(_s(fn, "pol = READ_ONCE(vma->vm_policy);"))
    k.use_vma(t, vma)
    pol = __get_vma_policy(k, vma, address)
    t.did(f"reads vma->vm_policy: {pol or 'NULL'}")
    # Without it: the page is allocated through the VMA's policy, which mbind()
    # may replace and free meanwhile.
    if t.check(C.SPF_VMA_POLICY, pol is not None, f"the VMA's own policy, {pol}"):
        return VM_FAULT_RETRY
    yield t.at(_s(fn, "pol = get_task_policy(current);"), local=True)
    tpol = get_task_policy(mm)
    t.did(f"the task's policy: {tpol}")
    # Without it: interleaved placement computes the node from the VMA's offset
    # (see the registry's note).
    if t.check(C.SPF_MPOL_INTERLEAVE, tpol == MPOL_INTERLEAVE, "the task interleaves"):
        return VM_FAULT_RETRY
    vmf.flags = flags
    return None


def _hsf_walk(t: Task, mm: MmStruct, vmf: VmFault, address: int) -> Gen:
    """handle_speculative_fault(), second part: the walk, IRQs off, allocating
    nothing.  Returns ``(None, False)`` when the walk reached the PTE (IRQs on
    again), or ``(VM_FAULT_RETRY, True)``: give up at ``out_walk``."""
    fn = "handle_speculative_fault"
    k = t.machine
    RETRY = VM_FAULT_RETRY
    # With IRQs off this CPU cannot answer the IPI that munmap() sends before
    # freeing page tables, so whatever table we reach stays allocated.
    if k.mutated(C.IRQS_ON_WALK):
        yield t.at(_s(fn, "local_irq_disable();"))
        t.did("(mutant) walks with IRQs left on")
    else:
        yield from local_irq_disable(t, _s(fn, "local_irq_disable();"))
    folded = k.folded
    pgd_idx = pgtable.index("pgd", address, k.la57)
    yield t.at(_s(fn, "pgdval = READ_ONCE(*pgd);"))
    pgdval = k.read_entry(t, mm.pgd, pgd_idx)
    t.did(f"reads pgd[{pgd_idx}]: {pgdval}"
          + (" (p4d folded: pgd_none() is 0)" if folded else ""))
    # Without it (5-level paging): an empty pgd entry would be followed as a table.
    if t.check(C.SPF_PGD, pgtable.pgd_none(pgdval, folded) or pgtable.pgd_bad(pgdval, folded),
               f"pgd {pgdval}"):
        return RETRY, True
    if folded:
        p4d_table, p4d_idx = mm.pgd, pgd_idx
    else:
        p4d_table = k.table_of(t, pgdval, "p4d_offset(pgd, address)")
        p4d_idx = pgtable.index("p4d", address, True)
    yield t.at(_s(fn, "p4dval = READ_ONCE(*p4d);"))
    p4dval = k.read_entry(t, p4d_table, p4d_idx)
    t.did(f"reads the p4d: {p4dval}" + (" (the same entry as the pgd)" if folded else ""))
    # Without it: an empty p4d entry would be followed as a table.
    if t.check(C.SPF_P4D, pgtable.p4d_none(p4dval) or pgtable.p4d_bad(p4dval),
               f"p4d {p4dval}"):
        return RETRY, True
    pud_table = k.table_of(t, p4dval, "pud_offset(p4d, address)")
    vmf.pud = (pud_table, pgtable.index("pud", address, k.la57))
    yield t.at(_s(fn, "pudval = READ_ONCE(*vmf.pud);"))
    pudval = k.read_entry(t, *vmf.pud)
    t.did(f"reads pud[{vmf.pud[1]}]: {pudval}")
    # Without it: an empty pud, or a 1 GiB leaf (pud_bad() on x86), would be
    # followed as a pmd table.
    if t.check(C.SPF_PUD, pgtable.pud_none(pudval) or pgtable.pud_bad(pudval),
               f"pud {pudval}"):
        return RETRY, True
    # Without it: nothing on x86, where pud_bad() already refused a huge pud.
    if t.check(C.SPF_PUD_TRANS_HUGE, pgtable.pud_trans_huge(pudval), "a 1 GiB page"):
        return RETRY, True
    pmd_table = k.table_of(t, pudval, "pmd_offset(vmf.pud, address)")
    vmf.pmd = (pmd_table, pgtable.index("pmd", address, k.la57))
    yield t.at(_s(fn, "vmf.orig_pmd = READ_ONCE(*vmf.pmd);"))
    o = k.read_entry(t, *vmf.pmd)
    vmf.orig_pmd = o
    t.did(f"reads pmd[{vmf.pmd[1]}]: {o}")
    # Without these: a device, empty, huge or migrating pmd would be followed as
    # a pte table (page data read as PTEs).
    if (t.check(C.SPF_PMD_DEVMAP, pgtable.pmd_devmap(o), "a device mapping")
            or t.check(C.SPF_PMD_NONE, pgtable.pmd_none(o), "no pte table")
            or t.check(C.SPF_PMD_TRANS_HUGE, pgtable.pmd_trans_huge(o), "a 2 MiB page")
            or t.check(C.SPF_PMD_SWAP, pgtable.is_swap_pmd(o), "a migrating huge page")):
        return RETRY, True
    pte_table = k.table_of(t, o, "pte_offset_map(vmf.pmd, address)")
    pte_idx = pgtable.index("pte", address, k.la57)
    yield t.at(_s(fn, "vmf.orig_pte = READ_ONCE(*vmf.pte);"))
    vmf.orig_pte = k.read_entry(t, pte_table, pte_idx)
    vmf.pte = (pte_table, pte_idx)
    t.did(f"reads pte[{pte_idx}] of pt{pte_table.id}: {vmf.orig_pte}")
    if t.branch(C.SPF_PTE_NONE, pgtable.pte_none(vmf.orig_pte),
                "the pte is none: a new page (vmf.pte = NULL, do_anonymous_page())",
                "the pte is there: handle_pte_fault() works on it"):
        vmf.pte = None
    yield from local_irq_enable(t, _s(fn, "local_irq_enable();", after="vmf.flags = flags;"))
    return None, False


__all__ = [
    "handle_speculative_fault", "handle_mm_fault", "handle_pte_fault", "do_anonymous_page",
    "pte_spinlock", "pte_spinlock_speculative", "pte_map_lock", "pte_map_lock_speculative",
]
