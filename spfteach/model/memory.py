"""``mm/memory.c``: the fault handlers, classic and speculative.

Read top to bottom beside the C.  Each ``yield`` is one step another CPU can
interleave with; between two yields a task only computes on its own stack.
``t.check(NAME, cond)`` is one of the registered checks (``checks.py``): it
returns whether the check fires, and a mutant can switch it off.

The speculative path (``handle_speculative_fault``) takes no ``mmap_sem``.  It
takes a reference on the VMA, samples its sequence count, reads what it needs
into ``vmf``, walks the page tables with IRQs off (so they cannot be freed under
it) without allocating anything, and re-validates the count before and after
taking the PTE lock.  Any doubt gives ``VM_FAULT_RETRY``: the caller then takes
the classic path under ``mmap_sem``.
"""

from __future__ import annotations

from . import checks as C
from . import pgtable
from .bug import NotModelled, oops
from .internal import vma_has_changed
from .locking import spin_lock, spin_trylock, spin_unlock
from .mempolicy import __get_vma_policy, get_task_policy
from .mm_types import (
    FAULT_FLAG_ALLOW_RETRY,
    FAULT_FLAG_INSTRUCTION,
    FAULT_FLAG_KILLABLE,
    FAULT_FLAG_REMOTE,
    FAULT_FLAG_SPECULATIVE,
    FAULT_FLAG_WRITE,
    MPOL_INTERLEAVE,
    VM_EXEC,
    VM_FAULT_OOM,
    VM_FAULT_RETRY,
    VM_FAULT_SIGSEGV,
    VM_GROWSDOWN,
    VM_GROWSUP,
    VM_READ,
    VM_UFFD_MISSING,
    VM_WRITE,
    MmStruct,
    VmAreaStruct,
    VmFault,
    fault_str,
    flags_str,
)
from .mmap import get_vma, put_vma
from .pgtable import Entry, Kind, PageTablePage, PtState
from .rmap import anon_vma_prepare
from .seqlock import raw_read_seqcount, read_seqcount_retry
from .smp import local_irq_disable, local_irq_enable
from .task import Gen, Src, Task

F = "mm/memory.c"


def _s(fn: str, snippet: str, after: str = "") -> Src:
    return Src(F, fn, snippet, after)


def _spec(vmf: VmFault) -> bool:
    return bool(vmf.flags & FAULT_FLAG_SPECULATIVE)


def _write_entry(t: Task, pt: PageTablePage, idx: int, e: Entry) -> None:
    """A store into a page-table page, flagging stores into dead tables."""
    if pt.state is PtState.FREED:
        t.kernel.violate("use-after-free",
                         f"T{t.tid} writes entry {idx} of freed page table pt{pt.id}")
    pt.set(idx, e)


def _install_pte(t: Task, pt: PageTablePage, idx: int, e: Entry) -> None:
    """A fault stores a present PTE: the moment the invariants about PTEs are
    judged (see invariants.py for why not as a global per-step predicate)."""
    k = t.kernel
    if pt.state is PtState.UNLINKED:
        k.violate("pte-in-unlinked-table", f"T{t.tid} installs a pte for "
                  f"{pt.address_of(idx):#x} into unlinked page table pt{pt.id}")
    ptl = k.ptl.get(pt.id)
    if ptl is not None and ptl.owner != t.tid:
        k.violate("pte-lock", f"T{t.tid} writes the pte for {pt.address_of(idx):#x} without "
                              f"holding {ptl.name}")
    _write_entry(t, pt, idx, e)


# --- the PTE lock helpers -----------------------------------------------------


def pte_spinlock(t: Task, vmf: VmFault) -> Gen:
    """Lock the PTE ``vmf->pte`` points to; speculatively, only if still valid."""
    fn = "pte_spinlock"
    k = t.kernel
    pte_pt, _ = vmf.pte  # type: ignore[misc]
    if not _spec(vmf):
        vmf.ptl = k.ptl[pte_pt.id]
        yield from spin_lock(t, vmf.ptl, _s(fn, "spin_lock(vmf->ptl);"))
        return True
    # IRQs off: from here on the page tables cannot be freed under us.
    yield from local_irq_disable(t, _s(fn, "local_irq_disable();"))
    ret = False
    if (yield from _lock_checks(t, vmf, fn, "spinlock")):
        ret = True
    yield from local_irq_enable(t, _s(fn, "local_irq_enable();"))
    return ret


def pte_map_lock(t: Task, vmf: VmFault) -> Gen:
    """Map and lock the PTE for ``vmf->address``; speculatively, only if valid."""
    fn = "pte_map_lock"
    k = t.kernel
    pmd_pt, pmd_idx = vmf.pmd  # type: ignore[misc]
    if not _spec(vmf):
        yield t.at(_s(fn, "vmf->pte = pte_offset_map_lock(vmf->vma->vm_mm, vmf->pmd,"),
                   enabled=lambda: _ptl_free(k, pmd_pt, pmd_idx),
                   waits_for="PTE lock")
        e = k.read_entry(t, pmd_pt, pmd_idx)
        pte_pt, vmf.ptl = k.pte_lockptr(t, e, "pte_offset_map_lock()")
        vmf.ptl.owner = t.tid
        vmf.pte = (pte_pt, pgtable.index("pte", vmf.address, k.la57))
        t.did(f"maps pt{pte_pt.id} and takes {vmf.ptl.name}")
        return True
    yield from local_irq_disable(t, _s(fn, "local_irq_disable();"))
    ret = (yield from _lock_checks(t, vmf, fn, "maplock"))
    yield from local_irq_enable(t, _s(fn, "local_irq_enable();"))
    return ret


def _ptl_free(k, pmd_pt: PageTablePage, pmd_idx: int) -> bool:
    """Can pte_offset_map_lock() take the PTE lock now?  (No table under the
    pmd: nothing to wait for; the step then finds that out.)"""
    e = pmd_pt.get(pmd_idx)
    return e.kind is not Kind.TABLE or k.ptl[e.target].free()


#: The guards of each lock helper, in the order they are made.
_LOCK_CHECKS = {
    "spinlock": (C.SPINLOCK_VMA_CHANGED, C.SPINLOCK_PMD_SAME, C.SPINLOCK_TRYLOCK,
                 C.SPINLOCK_VMA_CHANGED_LOCKED),
    "maplock": (C.MAPLOCK_VMA_CHANGED, C.MAPLOCK_PMD_SAME, C.MAPLOCK_TRYLOCK,
                C.MAPLOCK_VMA_CHANGED_LOCKED),
}


def _lock_checks(t: Task, vmf: VmFault, fn: str, prefix: str) -> Gen:
    """The part both lock helpers share, in the seed's order, IRQs off."""
    k = t.kernel
    ck = _LOCK_CHECKS[prefix]
    if t.check(ck[0],
               (yield from vma_has_changed(t, vmf, _s(fn, "if (vma_has_changed(vmf))",
                                                     after="local_irq_disable();")))):
        return False
    # Is the pmd still the one the walk saw?  A THP collapse replaces it.
    pmd_pt, pmd_idx = vmf.pmd  # type: ignore[misc]
    yield t.at(_s(fn, "pmdval = READ_ONCE(*vmf->pmd);"))
    pmdval = k.read_entry(t, pmd_pt, pmd_idx)
    t.did(f"re-reads pmd = {pmdval} (walk saw {vmf.orig_pmd})")
    if t.check(ck[1], not pgtable.pmd_same(pmdval, vmf.orig_pmd)):
        return False
    pte_pt, ptl = k.pte_lockptr(t, vmf.orig_pmd, "pte_lockptr()")  # type: ignore[arg-type]
    trysrc = (_s(fn, "if (unlikely(!spin_trylock(vmf->ptl)))") if prefix == "spinlock"
              else _s(fn, "if (unlikely(!spin_trylock(ptl))) {"))
    if k.mutated(C.TRYLOCK_IS_LOCK):
        yield from spin_lock(t, ptl, trysrc)
        got = True
    else:
        got = yield from spin_trylock(t, ptl, trysrc)
    if t.check(ck[2], not got, "" if got else f"{ptl.name} is busy"):
        return False
    if not got:  # the trylock check was mutated away: carry on without the lock
        t.note("(mutant) proceeds without holding the PTE lock")
    changed = yield from vma_has_changed(t, vmf, _s(fn, "if (vma_has_changed(vmf)) {",
                                                    after=trysrc.snippet))
    if t.check(ck[3], changed):
        if got:
            yield from spin_unlock(t, ptl, _s(fn, "pte_unmap_unlock(pte, ptl);")
                                   if prefix == "maplock" else _s(fn, "spin_unlock(vmf->ptl);"))
        return False
    vmf.ptl = ptl
    vmf.pte = (pte_pt, pgtable.index("pte", vmf.address, k.la57))
    return True


def pte_unmap_unlock(t: Task, vmf: VmFault, src: Src) -> Gen:
    assert vmf.ptl is not None
    yield from spin_unlock(t, vmf.ptl, src)


# --- handle_pte_fault and the anonymous fault ----------------------------------


def handle_pte_fault(t: Task, vmf: VmFault) -> Gen:
    fn = "handle_pte_fault"
    k = t.kernel
    pmd_pt, pmd_idx = vmf.pmd  # type: ignore[misc]
    if _spec(vmf):
        # IRQs are on again since the walk: munmap() may have freed the pmd's
        # table already.  Only with IRQs off and the VMA unchanged is *vmf->pmd
        # still memory we may read (the seed read it here with IRQs on).
        if not (yield from _spf_pmd_stable(t, vmf)):
            return VM_FAULT_RETRY
    else:
        yield t.at(_s(fn, "if (unlikely(pmd_none(*vmf->pmd))) {"))
        pmdval = k.read_entry(t, pmd_pt, pmd_idx)
        t.did(f"reads pmd = {pmdval}")
    if not _spec(vmf) and pgtable.pmd_none(pmdval):
        vmf.pte = None
    elif not _spec(vmf):
        if pmdval.kind is not Kind.TABLE:
            # pmd_devmap_trans_unstable(): a huge pmd appeared (THP): return and
            # let the access fault again, to be handled at the pmd level.
            t.refault = True
            return 0
        pte_pt = k.pt_pages[pmdval.target]
        idx = pgtable.index("pte", vmf.address, k.la57)
        yield t.at(_s(fn, "vmf->orig_pte = *vmf->pte;"))
        vmf.orig_pte = k.read_entry(t, pte_pt, idx)
        vmf.pte = (pte_pt, idx)
        t.did(f"reads pte = {vmf.orig_pte}")
        if pgtable.pte_none(vmf.orig_pte):
            vmf.pte = None
    # Speculatively, vmf->pte and vmf->orig_pte come from the walk.
    if vmf.pte is None:
        vma = vmf.vma
        assert vma is not None
        if vma.vm_ops is None:  # vma_is_anonymous()
            return (yield from do_anonymous_page(t, vmf))
        if t.check(C.HPF_NO_DO_FAULT, _spec(vmf), "do_fault() may drop mmap_sem"):
            return VM_FAULT_RETRY
        return (yield from do_fault(t, vmf))
    assert vmf.orig_pte is not None
    if not pgtable.pte_present(vmf.orig_pte):
        if t.check(C.HPF_NO_SWAP, _spec(vmf), "no swap-in speculatively"):
            return VM_FAULT_RETRY
        return (yield from do_swap_page(t, vmf))
    if not (yield from pte_spinlock(t, vmf)):
        return VM_FAULT_RETRY
    entry = vmf.orig_pte
    pte_pt, idx = vmf.pte
    yield t.at(_s(fn, "if (unlikely(!pte_same(*vmf->pte, entry)))"))
    cur = k.read_entry(t, pte_pt, idx)
    same = pgtable.pte_same(cur, entry)
    t.did(f"re-reads pte = {cur}: " + ("unchanged" if same else "changed, nothing to do"))
    if same:
        if vmf.flags & FAULT_FLAG_WRITE:
            if not pgtable.pte_write(entry):
                if t.check(C.HPF_NO_WP, _spec(vmf), "no copy-on-write speculatively"):
                    yield from pte_unmap_unlock(t, vmf, _s(
                        fn, "pte_unmap_unlock(vmf->pte, vmf->ptl);",
                        after="if (!pte_write(entry)) {"))
                    return VM_FAULT_RETRY
                return (yield from do_wp_page(t, vmf))
            entry = Entry(entry.kind, entry.target, entry.write, entry.user, entry.accessed,
                          True, entry.special)
        entry = Entry(entry.kind, entry.target, entry.write, entry.user, True,
                      entry.dirty, entry.special)
        yield t.at(_s(fn, "if (ptep_set_access_flags(vmf->vma, vmf->address, vmf->pte, entry,"))
        _install_pte(t, pte_pt, idx, entry)
        t.did(f"sets access flags: pte = {entry}")
    yield from pte_unmap_unlock(t, vmf, _s(fn, "pte_unmap_unlock(vmf->pte, vmf->ptl);",
                                           after="unlock:"))
    return 0


def _spf_pmd_stable(t: Task, vmf: VmFault) -> Gen:
    """Speculative half of handle_pte_fault's pmd test, made safe: IRQs off,
    VMA unchanged, then read the pmd.  Empty means the pte table went away or a
    THP collapse is under way: retry under mmap_sem."""
    fn = "handle_pte_fault"
    k = t.kernel
    pmd_pt, pmd_idx = vmf.pmd  # type: ignore[misc]
    yield from local_irq_disable(t, _s(fn, "local_irq_disable();"))
    if t.check(C.HPF_VMA_CHANGED,
               (yield from vma_has_changed(t, vmf, _s(fn, "if (vma_has_changed(vmf)) {")))):
        yield from local_irq_enable(t, _s(fn, "local_irq_enable();",
                                          after="if (vma_has_changed(vmf)) {"))
        return False
    yield t.at(_s(fn, "pmdval = READ_ONCE(*vmf->pmd);"))
    pmdval = k.read_entry(t, pmd_pt, pmd_idx)
    t.did(f"reads pmd = {pmdval}")
    yield from local_irq_enable(t, _s(fn, "local_irq_enable();",
                                      after="pmdval = READ_ONCE(*vmf->pmd);"))
    return not t.check(C.HPF_PMD_NONE, pgtable.pmd_none(pmdval), "pmd emptied since the walk")


def pte_alloc(t: Task, mm: MmStruct, vmf: VmFault) -> Gen:
    """``pte_alloc()``: allocate a pte table if the pmd is empty.  False = OOM."""
    k = t.kernel
    pmd_pt, pmd_idx = vmf.pmd  # type: ignore[misc]
    yield t.at(_s("do_anonymous_page", "if (pte_alloc(vma->vm_mm, vmf->pmd))"))
    e = k.read_entry(t, pmd_pt, pmd_idx)
    t.did(f"pte_alloc(): pmd = {e}")
    if not pgtable.pmd_none(e):
        return True
    return (yield from __pXd_alloc(t, mm, pmd_pt, pmd_idx, "pte", vmf.address))


def __pXd_alloc(t: Task, mm: MmStruct, parent: PageTablePage, idx: int, level: str,
                address: int) -> Gen:
    """``__pte_alloc()`` / ``__pmd_alloc()`` …: allocate, then populate under the
    page-table lock unless another thread populated the entry first."""
    k = t.kernel
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
        _write_entry(t, parent, idx, Entry(Kind.TABLE, new.id))
        new.state = PtState.LINKED
        if parent.state is not PtState.LINKED:
            k.violate("use-after-free" if parent.state is PtState.FREED else "pgtable-leak",
                      f"T{t.tid} links new table pt{new.id} into {parent.state.value} "
                         f"table pt{parent.id}")
        t.did(f"links new {level} table pt{new.id} at pt{parent.id}[{idx}]")
    else:
        new.state = PtState.FREED
        t.did(f"pt{parent.id}[{idx}] was populated meanwhile; frees pt{new.id}")
    yield from spin_unlock(t, mm.page_table_lock, unlock)
    return True


def do_anonymous_page(t: Task, vmf: VmFault) -> Gen:
    """A fault on an empty PTE of an anonymous VMA.

    Reads map the shared zero page read-only; writes get a fresh zeroed page.
    The PTE value is built from ``vmf->vma_flags``/``vma_page_prot`` — the
    snapshot validated by ``pte_map_lock()`` — not from the live VMA.
    """
    fn = "do_anonymous_page"
    k = t.kernel
    vma = vmf.vma
    assert vma is not None
    # Speculatively the walk found a pte table and pte_map_lock() re-checks it
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
        t.did(f"pmd = {e}" + (": unstable, return and refault" if unstable else ": stable"))
        if unstable:
            t.refault = True
            return 0
    if not vmf.flags & FAULT_FLAG_WRITE:
        entry = Entry(Kind.PAGE, 0, write=False, special=True)  # my_zero_pfn()
        if not (yield from pte_map_lock(t, vmf)):
            return VM_FAULT_RETRY
        if not (yield from _pte_still_none(t, vmf, fn, "my_zero_pfn(vmf->address)")):
            yield from pte_unmap_unlock(t, vmf, _s(fn, "pte_unmap_unlock(vmf->pte, vmf->ptl);",
                                                   after="unlock:"))
            return 0
        # The speculative path refused VM_UFFD_MISSING at its start; if the range
        # was registered since, ignore it this once.
        if t.branch(C.ANON_UFFD_ZERO, _spec(vmf),
                    "speculative: goto setpte (no userfaultfd_missing() test)",
                    "classic: test userfaultfd_missing() under the PTE lock"):
            return (yield from _setpte(t, vmf, entry))
        if (yield from _userfaultfd_missing(t, vma, fn)):
            return (yield from handle_userfault(t, vmf))
        return (yield from _setpte(t, vmf, entry))
    # Allocate our own private page (its reverse mapping needs an anon_vma).
    # Speculatively the anon_vma was there at the start; preparing a new one
    # would need mmap_lock.
    if _spec(vmf):
        yield t.at(_s(fn, "if (unlikely(!READ_ONCE(vma->anon_vma))) {"))
        k.use_vma(t, vma)
        anon = vma.anon_vma
        t.did(f"vma->anon_vma = {f'av{anon}' if anon is not None else 'NULL'}")
        if t.check(C.ANON_NO_ANON_VMA, anon is None):
            return VM_FAULT_RETRY
    elif not (yield from anon_vma_prepare(t, vma)):
        return VM_FAULT_OOM
    yield t.at(_s(fn, "page = alloc_zeroed_user_highpage_movable(vma, vmf->address);"))
    pfn = k.alloc_page()
    t.did(f"allocates page{pfn}")
    write = bool(vmf.vma_flags & VM_WRITE)
    entry = Entry(Kind.PAGE, pfn, write=write, accessed=True, dirty=write)
    if not (yield from pte_map_lock(t, vmf)):
        yield from _release(t, pfn, "release_unlocked:")
        return VM_FAULT_RETRY
    if not (yield from _pte_still_none(t, vmf, fn, "goto release_unlocked;")):
        yield from _release(t, pfn, "release:")
        yield from pte_unmap_unlock(t, vmf, _s(fn, "pte_unmap_unlock(vmf->pte, vmf->ptl);",
                                               after="unlock:"))
        return 0
    uffd = False
    if not t.branch(C.ANON_UFFD, _spec(vmf),
                    "speculative: no userfaultfd_missing() test",
                    "classic: test userfaultfd_missing() under the PTE lock"):
        uffd = yield from _userfaultfd_missing(t, vma, fn)
    if uffd:
        ret = yield from handle_userfault(t, vmf)
        k.pages[pfn] = "freed"  # put_page(page) before handle_userfault()
        return ret
    return (yield from _setpte(t, vmf, entry))


def _release(t: Task, pfn: int, label: str) -> Gen:
    """``release: put_page(page)``: the page we allocated is not used."""
    yield t.at(_s("do_anonymous_page", "put_page(page);", after="release:") if label == "release:"
               else _s("do_anonymous_page", "put_page(page);", after="release_unlocked:"))
    t.kernel.pages[pfn] = "freed"
    t.did(f"frees page{pfn}: not mapped")


def vma_mm(k) -> MmStruct:
    return k.mm


def _pte_still_none(t: Task, vmf: VmFault, fn: str, after: str = "") -> Gen:
    yield t.at(_s(fn, "if (!pte_none(*vmf->pte))", after=after) if fn == "do_anonymous_page"
               else Src(F, "finish_fault", "if (likely(!vmf_pte_changed(vmf))) {"))
    pte_pt, idx = vmf.pte  # type: ignore[misc]
    cur = t.kernel.read_entry(t, pte_pt, idx)
    t.did(f"pte = {cur}" + ("" if pgtable.pte_none(cur) else ": someone mapped it first"))
    return pgtable.pte_none(cur)


def _userfaultfd_missing(t: Task, vma: VmAreaStruct, fn: str) -> Gen:
    yield t.at(_s(fn, "if (userfaultfd_missing(vma)) {"))
    missing = bool(vma.vm_flags & VM_UFFD_MISSING)
    t.did("userfaultfd_missing(): " + ("yes" if missing else "no"))
    return missing


def handle_userfault(t: Task, vmf: VmFault) -> Gen:
    """Hand the fault to user space.  It releases ``mmap_sem`` while it waits —
    which is only legal for a fault that holds it."""
    yield t.at(Src("fs/userfaultfd.c", "handle_userfault", "mmap_read_unlock(mm);"))
    pte_pt, _ = vmf.pte  # type: ignore[misc]
    if vmf.ptl is not None and vmf.ptl.owner == t.tid:
        vmf.ptl.owner = None
    if not vma_mm(t.kernel).mmap_sem.held_by(t.tid):
        t.kernel.violate("spf-holds-mmap_sem",
                         f"T{t.tid} calls handle_userfault(), which drops mmap_sem, without it")
    t.did("hands the fault to the userfaultfd monitor (VM_FAULT_RETRY)")
    return VM_FAULT_RETRY


def _setpte(t: Task, vmf: VmFault, entry: Entry) -> Gen:
    fn = "do_anonymous_page"
    k = t.kernel
    pte_pt, idx = vmf.pte  # type: ignore[misc]
    yield t.at(_s(fn, "set_pte_at(vma->vm_mm, vmf->address, vmf->pte, entry);"))
    vma = vmf.vma
    if vma is not None and vmf.vma_flags & VM_UFFD_MISSING and vma.vm_flags & VM_UFFD_MISSING:
        k.violate("uffd-bypass", f"T{t.tid} maps {vmf.address:#x} itself although it saw "
                                 "the range registered with userfaultfd")
    if vma is not None and entry.kind is Kind.PAGE and not entry.special and \
            vma.anon_vma is None:
        # __page_set_anon_rmap() BUG()s on a NULL anon_vma: the page would have
        # no reverse mapping.
        oops(f"maps an anonymous page into vma{vma.id}, which has no anon_vma: "
             "BUG_ON(!anon_vma) in __page_set_anon_rmap()")
    _install_pte(t, pte_pt, idx, entry)
    if entry.kind is Kind.PAGE and not entry.special:
        k.pages[entry.target] = "mapped"
    t.did(f"installs pte = {entry} at pt{pte_pt.id}[{idx}]")
    yield from pte_unmap_unlock(t, vmf, _s(fn, "pte_unmap_unlock(vmf->pte, vmf->ptl);",
                                           after="unlock:"))
    return 0


def do_swap_page(t: Task, vmf: VmFault) -> Gen:
    """A PTE that is not present.  Only the degenerate case is modelled: an
    *empty* PTE taken for a swap entry (what happens if the pte_none() branch is
    skipped) finds no swap device and returns 0 — the access faults again,
    forever.  Real swap-in is not modelled."""
    e = vmf.orig_pte
    if e is None or e.kind is not Kind.NONE:
        raise NotModelled("do_swap_page(): swapping in is not modelled")
    yield t.at(_s("do_swap_page", "si = get_swap_device(entry);"))
    t.did("swap entry 0: no swap device; return 0 without mapping anything")
    return 0


_FF_UNLOCK = Src(F, "finish_fault", "pte_unmap_unlock(vmf->pte, vmf->ptl);")


def do_fault(t: Task, vmf: VmFault) -> Gen:
    """A fault in a VMA with ``vm_ops``: ``->fault()`` supplies the page.

    The model's ``vm_ops`` provide a fresh page (a file page brought in), mapped
    with the VMA's rights — enough to give the classic path something to do.
    """
    fn = "do_fault"
    k = t.kernel
    vma = vmf.vma
    assert vma is not None
    yield t.at(Src(F, "__do_fault", "ret = vma->vm_ops->fault(vmf);"))
    if not vma_mm(k).mmap_sem.held_by(t.tid):
        k.violate("needs-mmap_sem", f"T{t.tid} calls {vma.vm_ops}->fault() without mmap_sem "
                                    "(it may drop it, or rely on it for the file's mapping)")
    pfn = k.alloc_page()
    t.did(f"{vma.vm_ops}->fault() returns page{pfn}")
    if not (yield from pte_alloc(t, vma_mm(k), vmf)):
        return VM_FAULT_OOM
    if not (yield from pte_map_lock(t, vmf)):
        return VM_FAULT_RETRY
    if not (yield from _pte_still_none(t, vmf, fn)):
        yield from pte_unmap_unlock(t, vmf, _FF_UNLOCK)
        return 0
    pte_pt, idx = vmf.pte  # type: ignore[misc]
    entry = Entry(Kind.PAGE, pfn, write=bool(vmf.vma_flags & VM_WRITE), accessed=True)
    yield t.at(Src(F, "finish_fault", "do_set_pte(vmf, page, vmf->address);"))
    _install_pte(t, pte_pt, idx, entry)
    k.pages[pfn] = "mapped"
    t.did(f"installs pte = {entry} at pt{pte_pt.id}[{idx}]")
    yield from pte_unmap_unlock(t, vmf, _FF_UNLOCK)
    return 0


def do_wp_page(t: Task, vmf: VmFault) -> Gen:
    """A write to a present read-only PTE, PTE lock held.

    An anonymous page only this VMA maps is reused (made writable in place);
    the zero page is copied (``wp_page_copy()``).
    """
    fn = "do_wp_page"
    k = t.kernel
    entry = vmf.orig_pte
    assert entry is not None and vmf.pte is not None
    pte_pt, idx = vmf.pte
    if not entry.special:
        yield t.at(Src(F, "wp_page_reuse",
                       "if (ptep_set_access_flags(vma, vmf->address, vmf->pte, entry, 1))"))
        new = Entry(Kind.PAGE, entry.target, write=True, accessed=True, dirty=True)
        _install_pte(t, pte_pt, idx, new)
        t.did(f"reuses page{entry.target}: pte = {new}")
        yield from pte_unmap_unlock(t, vmf, _s(fn, "pte_unmap_unlock(vmf->pte, vmf->ptl);"))
        return 0
    # Copy the zero page: drop the lock, allocate, take it again and re-check.
    yield from pte_unmap_unlock(t, vmf, _s(fn, "pte_unmap_unlock(vmf->pte, vmf->ptl);"))
    yield t.at(Src(F, "wp_page_copy", "new_page = alloc_zeroed_user_highpage_movable(vma,"))
    pfn = k.alloc_page()
    t.did(f"allocates page{pfn} to replace the zero page")
    if not (yield from pte_map_lock(t, vmf)):
        k.pages[pfn] = "freed"
        return VM_FAULT_RETRY
    yield t.at(Src(F, "wp_page_copy", "if (likely(pte_same(*vmf->pte, vmf->orig_pte))) {"))
    cur = k.read_entry(t, pte_pt, idx)
    if pgtable.pte_same(cur, entry):
        new = Entry(Kind.PAGE, pfn, write=bool(vmf.vma_flags & VM_WRITE), accessed=True,
                    dirty=True)
        _install_pte(t, pte_pt, idx, new)
        k.pages[pfn] = "mapped"
        t.did(f"installs pte = {new}")
    else:
        k.pages[pfn] = "freed"
        t.did("pte changed meanwhile; drops the copy")
    yield from pte_unmap_unlock(t, vmf,
                                Src(F, "wp_page_copy", "pte_unmap_unlock(vmf->pte, vmf->ptl);"))
    return 0


# --- the classic entry ---------------------------------------------------------


def __handle_mm_fault(t: Task, vma: VmAreaStruct, address: int, flags: int) -> Gen:
    """Walk, allocating missing levels; ``mmap_sem`` is held for reading."""
    fn = "__handle_mm_fault"
    k = t.kernel
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
        t.did(f"{upper}[{idx}] = {e}")
        if e.kind is Kind.NONE:
            yield from __pXd_alloc(t, mm, pt, idx, lower, address)
            e = pt.get(idx)
        if e.kind is not Kind.TABLE:
            return (yield from _huge_entry_fault(t, pt, idx, e, upper, flags))
        pt = k.pt_pages[e.target]
    vmf.pmd = (pt, pgtable.index("pmd", address, k.la57))
    yield t.at(_s(fn, "vmf.orig_pmd = *vmf.pmd;"))
    vmf.orig_pmd = k.read_entry(t, *vmf.pmd)
    t.did(f"pmd[{vmf.pmd[1]}] = {vmf.orig_pmd}")
    if vmf.orig_pmd.kind not in (Kind.NONE, Kind.TABLE):
        return (yield from _huge_entry_fault(t, pt, vmf.pmd[1], vmf.orig_pmd, "pmd", flags))
    # Record the count even on the classic path: the PTE lock helpers compare
    # against it (they do not re-check when not speculative, but the value is
    # what a speculative retry of this fault would have started from).
    vmf.sequence = (yield from raw_read_seqcount(
        t, vma.vm_sequence, _s(fn, "vmf.sequence = raw_read_seqcount(&vma->vm_sequence);")))
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
        new = Entry(e.kind, e.target, e.write, e.user, True, e.dirty or write, e.special)
        _write_entry(t, pt, idx, new)
        t.did(f"huge {level} already maps the address: set accessed{'/dirty' if write else ''}")
        return 0
    raise NotModelled(f"{e.kind.value} {level} entry in the classic path")


def handle_mm_fault(t: Task, vma: VmAreaStruct, address: int, flags: int) -> Gen:
    ret = yield from __handle_mm_fault(t, vma, address, flags)
    return ret


# --- the speculative entry -------------------------------------------------------


def handle_speculative_fault(t: Task, mm: MmStruct, address: int, flags: int) -> Gen:
    """Try to handle a user fault without ``mmap_sem``; ``VM_FAULT_RETRY`` = give up."""
    fn = "handle_speculative_fault"
    vmf = VmFault(address)
    # Nothing below may drop mmap_sem (it is not held) or wait killably for it.
    yield t.at(_s(fn, "flags |= FAULT_FLAG_SPECULATIVE;"), local=True)
    if not t.kernel.mutated(C.SPF_FLAGS):
        flags &= ~(FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE)
        flags |= FAULT_FLAG_SPECULATIVE
        t.did("flags: ALLOW_RETRY and KILLABLE cleared, SPECULATIVE set")
    else:
        t.did("(mutant) flags left as the caller passed them")

    t.in_spf = True
    t.reached_hpf = False
    vma = yield from get_vma(t, mm, address)
    if t.check(C.SPF_NO_VMA, vma is None):
        t.in_spf = False
        return VM_FAULT_RETRY
    if vma is None:  # reachable only with spf_no_vma removed
        oops("dereferences vma == NULL: raw_read_seqcount(&vma->vm_sequence)")
    ret, irqs_off = yield from _speculative_body(t, mm, vma, vmf, address, flags)
    if irqs_off:
        yield from local_irq_enable(t, _s(fn, "local_irq_enable();", after="out_walk:"))
    # Every path that took the reference drops it: after handle_pte_fault(), or
    # at the out_put label.
    put = _s(fn, "put_vma(vma);", after="ret = handle_pte_fault(&vmf);" if t.reached_hpf
             else "out_put:")
    if t.kernel.mutated(C.SPF_PUT_VMA):
        yield t.at(put)
        t.did("(mutant) returns without put_vma(): the reference leaks")
    else:
        yield from put_vma(t, vma, put)
    t.note(f"handle_speculative_fault returns {fault_str(ret)}")
    t.in_spf = False
    return ret


def _speculative_body(t: Task, mm: MmStruct, vma: VmAreaStruct, vmf: VmFault, address: int,
                      flags: int) -> Gen:
    """Checks, walk and fault proper.  Returns ``(ret, irqs_still_off)``: the caller
    owns the two labels ``out_walk`` (re-enable IRQs) and ``out_put``."""
    fn = "handle_speculative_fault"
    k = t.kernel
    RETRY, SEGV = VM_FAULT_RETRY, VM_FAULT_SIGSEGV
    seq = yield from raw_read_seqcount(
        t, vma.vm_sequence, _s(fn, "seq = raw_read_seqcount(&vma->vm_sequence);"))
    k.use_vma(t, vma)
    if t.check(C.SPF_SEQ_ODD, bool(seq & 1), f"seq {seq}"):
        return RETRY, False

    yield t.at(_s(fn, "if (vma->vm_ops)"))
    k.use_vma(t, vma)
    ops = vma.vm_ops
    t.did(f"vma->vm_ops = {ops or 'NULL'}")
    if t.check(C.SPF_VM_OPS, ops is not None, f"vm_ops {ops}"):
        return RETRY, False

    yield t.at(_s(fn, "if (vma->vm_file)"))
    k.use_vma(t, vma)
    file = vma.vm_file
    t.did(f"vma->vm_file = {file or 'NULL'}")
    if t.check(C.SPF_VM_FILE, file is not None, f"vm_file {file}"):
        return RETRY, False

    yield t.at(_s(fn, "if (unlikely(!vma->anon_vma))"))
    k.use_vma(t, vma)
    anon = vma.anon_vma
    t.did(f"vma->anon_vma = {f'av{anon}' if anon is not None else 'NULL'}")
    if t.check(C.SPF_NO_ANON_VMA, anon is None):
        return RETRY, False

    yield t.at(_s(fn, "vmf.vma_flags = READ_ONCE(vma->vm_flags);"))
    k.use_vma(t, vma)
    vmf.vma_flags = vma.vm_flags
    t.did(f"vmf.vma_flags = {flags_str(vmf.vma_flags)}")
    yield t.at(_s(fn, "vmf.vma_page_prot = READ_ONCE(vma->vm_page_prot);"))
    k.use_vma(t, vma)
    vmf.vma_page_prot = vma.vm_page_prot
    t.did(f"vmf.vma_page_prot = {vmf.vma_page_prot}")
    if t.check(C.SPF_UFFD_MISSING, bool(vmf.vma_flags & VM_UFFD_MISSING)):
        return RETRY, False
    if t.check(C.SPF_GROWS, bool(vmf.vma_flags & VM_GROWSDOWN or vmf.vma_flags & VM_GROWSUP)):
        return RETRY, False

    yield t.at(_s(fn, "if (address < READ_ONCE(vma->vm_start)"))
    k.use_vma(t, vma)
    start, end = vma.vm_start, vma.vm_end
    t.did(f"vma bounds [{start:#x}, {end:#x})")
    if t.check(C.SPF_BOUNDS, address < start or end <= address, f"address {address:#x}"):
        return RETRY, False

    write = bool(flags & FAULT_FLAG_WRITE)
    yield t.at(_s(fn, "if (!arch_vma_access_permitted(vma,"))
    k.use_vma(t, vma)
    pkey = vma.vm_pkey
    allowed = arch_vma_access_permitted(k, pkey, write, bool(flags & FAULT_FLAG_INSTRUCTION),
                                        bool(flags & FAULT_FLAG_REMOTE))
    t.did(f"protection key {pkey}: " + ("access allowed" if allowed else "access denied by PKRU"))
    if t.check(C.SPF_ARCH_ACCESS, not allowed):
        return SEGV, False
    if write:
        if t.check(C.SPF_WRITE_ACCESS, not vmf.vma_flags & VM_WRITE,
                   "write to a VMA without VM_WRITE"):
            return SEGV, False
    elif t.check(C.SPF_READ_ACCESS, not vmf.vma_flags & (VM_READ | VM_EXEC | VM_WRITE),
                 "PROT_NONE"):
        return SEGV, False

    yield t.at(_s(fn, "pol = READ_ONCE(vma->vm_policy);"))
    k.use_vma(t, vma)
    pol = __get_vma_policy(vma, address)
    t.did(f"vma->vm_policy = {pol or 'NULL'}")
    if t.check(C.SPF_VMA_POLICY, pol is not None, f"VMA policy {pol}"):
        return RETRY, False
    yield t.at(_s(fn, "pol = get_task_policy(current);"), local=True)
    pol = get_task_policy(mm)
    t.did(f"task policy: {pol}")
    if t.check(C.SPF_MPOL_INTERLEAVE, pol == MPOL_INTERLEAVE):
        return RETRY, False

    # The walk.  With IRQs off this CPU cannot answer the IPI that munmap() sends
    # before freeing page tables, so whatever table we reach stays allocated.
    if k.mutated(C.IRQS_ON_WALK):
        yield t.at(_s(fn, "local_irq_disable();"))
        t.did("(mutant) walks with IRQs left on")
    else:
        yield from local_irq_disable(t, _s(fn, "local_irq_disable();"))
    folded = k.folded
    pgd_idx = pgtable.index("pgd", address, k.la57)
    yield t.at(_s(fn, "pgdval = READ_ONCE(*pgd);"))
    pgdval = k.read_entry(t, mm.pgd, pgd_idx)
    t.did(f"pgd[{pgd_idx}] = {pgdval}" + (" (p4d folded: pgd_none() is 0)" if folded else ""))
    if t.check(C.SPF_PGD, pgtable.pgd_none(pgdval, folded) or pgtable.pgd_bad(pgdval, folded)):
        return RETRY, True

    if folded:
        p4d_table, p4d_idx = mm.pgd, pgd_idx
    else:
        p4d_table = k.table_of(t, pgdval, "p4d_offset(pgd, address)")
        p4d_idx = pgtable.index("p4d", address, True)
    yield t.at(_s(fn, "p4dval = READ_ONCE(*p4d);"))
    p4dval = k.read_entry(t, p4d_table, p4d_idx)
    t.did(f"p4d = {p4dval}" + (" (same entry as the pgd)" if folded else ""))
    if t.check(C.SPF_P4D, pgtable.p4d_none(p4dval) or pgtable.p4d_bad(p4dval)):
        return RETRY, True

    pud_table = k.table_of(t, p4dval, "pud_offset(p4d, address)")
    vmf.pud = (pud_table, pgtable.index("pud", address, k.la57))
    yield t.at(_s(fn, "pudval = READ_ONCE(*vmf.pud);"))
    pudval = k.read_entry(t, *vmf.pud)
    t.did(f"pud[{vmf.pud[1]}] = {pudval}")
    if t.check(C.SPF_PUD, pgtable.pud_none(pudval) or pgtable.pud_bad(pudval)):
        return RETRY, True
    if t.check(C.SPF_PUD_TRANS_HUGE, pgtable.pud_trans_huge(pudval)):
        return RETRY, True

    pmd_table = k.table_of(t, pudval, "pmd_offset(vmf.pud, address)")
    vmf.pmd = (pmd_table, pgtable.index("pmd", address, k.la57))
    yield t.at(_s(fn, "vmf.orig_pmd = READ_ONCE(*vmf.pmd);"))
    vmf.orig_pmd = k.read_entry(t, *vmf.pmd)
    t.did(f"pmd[{vmf.pmd[1]}] = {vmf.orig_pmd}")
    o = vmf.orig_pmd
    if (t.check(C.SPF_PMD_DEVMAP, pgtable.pmd_devmap(o))
            or t.check(C.SPF_PMD_NONE, pgtable.pmd_none(o))
            or t.check(C.SPF_PMD_TRANS_HUGE, pgtable.pmd_trans_huge(o))
            or t.check(C.SPF_PMD_SWAP, pgtable.is_swap_pmd(o))):
        return RETRY, True
    pte_table = k.table_of(t, o, "pte_offset_map(vmf.pmd, address)")
    pte_idx = pgtable.index("pte", address, k.la57)
    yield t.at(_s(fn, "vmf.orig_pte = READ_ONCE(*vmf.pte);"))
    vmf.orig_pte = k.read_entry(t, pte_table, pte_idx)
    vmf.pte = (pte_table, pte_idx)
    t.did(f"pte[{pte_idx}] of pt{pte_table.id} = {vmf.orig_pte}")
    if t.branch(C.SPF_PTE_NONE, pgtable.pte_none(vmf.orig_pte),
                "pte is none: a new page (vmf.pte = NULL, do_anonymous_page())",
                "pte is there: only its bits change"):
        vmf.pte = None

    vmf.vma = vma
    vmf.sequence = seq
    vmf.flags = flags
    yield from local_irq_enable(t, _s(fn, "local_irq_enable();", after="vmf.flags = flags;"))

    # Flags and bounds were read one at a time; only now do we know they were
    # read from one consistent version of the VMA.
    if t.check(C.SPF_SEQ_RETRY, (yield from read_seqcount_retry(
            t, vma.vm_sequence, seq,
            _s(fn, "if (read_seqcount_retry(&vma->vm_sequence, seq))")))):
        return RETRY, False

    t.reached_hpf = True
    ret = yield from handle_pte_fault(t, vmf)
    return ret, False


def arch_vma_access_permitted(k, pkey: int, write: bool, execute: bool, foreign: bool) -> bool:
    """x86 protection keys: the thread's PKRU may deny access to a key."""
    if execute or foreign:
        return True
    return pkey not in k.pkru_denied


__all__ = [
    "handle_speculative_fault", "handle_mm_fault", "handle_pte_fault", "do_anonymous_page",
    "pte_spinlock", "pte_map_lock",
]
