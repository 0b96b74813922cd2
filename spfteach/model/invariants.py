"""The invariants a correct fault path keeps, whatever the interleaving, and their judges.

Each has a stable name; a violation names it. They are not all global predicates checked after
every step, because the kernel's own writers legitimately pass through states such a predicate
would reject: ``munmap()`` detaches the VMA before it zaps the PTEs, ``mprotect()`` changes the
flags before it rewrites them, and a speculative fault that validated its VMA under the PTE lock
may install its PTE just after the writer changed the VMA — the writer then waits for that lock
and fixes the PTE. So each is judged where it becomes certain: an access to freed memory at the
access; a store that drops a counted page at the store; the mappings of a range when the writer
that changed it is done (``check_range``); a fault that reports success when
``do_user_addr_fault()`` returns; deadlock, leaks, what is left mapped and the state each thread
leaves behind when no thread can move any more (``check_end``).

Model code does not judge. It announces what the kernel did, by the kernel's name for it
(``k.event(t, "munmap", start, end)``, ``k.event(t, "put_vma", vma)``), and the judge of that
event, in :data:`JUDGES` at the end of this file, decides; ``tests/model/test_invariants.py``
holds that no other model file calls ``violate()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .mm_types import (
    VM_EXEC,
    VM_FAULT_ERROR,
    VM_FAULT_RETRY,
    VM_READ,
    VM_UFFD_MISSING,
    VM_WRITE,
    linear_page_index,
)
from .pgtable import Kind, PtState

if TYPE_CHECKING:
    from .machine import Machine
    from .mempolicy import Mempolicy
    from .mm_types import VmAreaStruct
    from .pgtable import Entry, PageTablePage
    from .task import Task

INVARIANTS: dict[str, str] = {
    "use-after-free": "no access to a freed VMA, page table, page or policy",
    "pte-outside-vma": "no PTE installed where no live VMA (in the tree) covers the address",
    "pte-in-unlinked-table": "no PTE installed into a page table that is unlinked or freed",
    "pte-rights": "no PTE grants rights (write) that the VMA no longer grants",
    "pte-overwritten": "a PTE that maps a counted page is not overwritten by another page "
                       "(the first would stay counted as mapped with no PTE)",
    "page-without-pte": "a page counted as mapped has a PTE pointing to it",
    "pte-to-freed-page": "no PTE points to a freed page",
    "rmap": "an anonymous page's anon_vma and index are those of the VMA that maps it "
            "(else reclaim and migration cannot find its PTE)",
    "lost-fault": "a fault that reports success leaves its page mapped, unless a writer "
                  "changed that page meanwhile",
    "wrong-sigsegv": "a fault refuses an access (SIGSEGV) only if the VMA that covers the "
                     "address at that moment, if any, does not allow it",
    "deadlock": "threads are left and none of them can move",
    "spf-holds-mmap_lock": "the speculative path never takes mmap_lock",
    "needs-mmap_lock": "code that requires mmap_lock (anon_vma_prepare, vm_ops->fault) runs "
                      "with it held",
    "pgtable-leak": "no page table stays linked where no VMA needs it",
    "pte-lock": "a PTE is written only by the holder of its page table's lock",
    "uffd-bypass": "a fault that saw the range registered with userfaultfd does not map "
                   "the page itself",
    "oops": "the kernel never oopses (a BUG_ON of the C fires, or the code follows a "
            "pointer the model names into nonsense)",
    "vma-leak": "every VMA reference is dropped: a VMA in the tree holds only the tree's, "
                "one removed from it is freed",
    "irqs-left-off": "every CPU has IRQs on again when its thread is done",
    "lock-left-held": "no lock is held when every thread is done",
    "rcu-unbalanced": "every rcu_read_lock() is matched, and every RCU callback has run",
}


def _vmas(k: Machine) -> list:
    return [v for v in k.mm.mmap if not v.vm_detached]


def check_range(k: Machine, start: int, end: int, who: str) -> None:
    """Every present PTE in ``[start, end)`` lies in a live VMA that grants its
    rights and agrees with its page's rmap, and points to a page counted as
    mapped: the postcondition of a writer that unmapped, protected or moved the
    range."""
    live = _vmas(k)
    for pt in k.pt_pages.values():
        if pt.state is not PtState.LINKED or pt.level not in ("pte", "pmd"):
            continue
        if not (pt.base < end and start < pt.base + pt.span):
            continue
        for idx, e in pt.entries.items():
            addr = pt.address_of(idx)
            leaf = e.kind is Kind.PAGE if pt.level == "pte" else e.kind is Kind.HUGE
            if not leaf or not start <= addr < end:
                continue
            vma = next((v for v in live if v.contains(addr)), None)
            if vma is None:
                k.violate("pte-outside-vma", f"after {who}: pte at {addr:#x} (pt{pt.id}[{idx}]) "
                                             "is mapped outside any VMA")
                continue
            if e.write and not vma.vm_flags & VM_WRITE:
                k.violate("pte-rights", f"after {who}: writable pte at {addr:#x} in "
                                        f"vma{vma.id}, which has no VM_WRITE")
            elif not vma.vm_flags & (VM_READ | VM_WRITE | VM_EXEC):
                k.violate("pte-rights", f"after {who}: pte at {addr:#x} in PROT_NONE "
                                        f"vma{vma.id}")
            if e.special:
                continue
            state = k.pages.get(e.target)
            if state != "mapped":
                k.violate("pte-to-freed-page", f"after {who}: pte at {addr:#x} points to "
                                               f"page{e.target}, which is {state}")
            elif vma.vm_ops is None:
                _check_rmap(k, e.target, vma, addr, who)






def _check_rmap(k: Machine, pfn: int, vma, addr: int, who: str) -> None:
    have = k.rmap.get(pfn)
    want = (vma.anon_vma, linear_page_index(vma, addr))
    if have != want:
        said = "no rmap" if have is None else f"rmap av{have[0]}, index {have[1]:#x}"
        k.violate("rmap", f"after {who}: page{pfn} at {addr:#x} has {said}, but vma{vma.id} "
                          f"would find it at av{want[0]}, index {want[1]:#x}")


def check_pages(k: Machine, who: str) -> None:
    """Every page counted as mapped has a PTE (or huge pmd) pointing to it."""
    mapped = {pfn for pfn, state in k.pages.items() if state == "mapped"}
    for pt in k.pt_pages.values():
        if pt.state is PtState.FREED:
            continue
        for e in pt.entries.values():
            if e.kind in (Kind.PAGE, Kind.HUGE):
                mapped.discard(e.target)
    for pfn in sorted(mapped):
        k.violate("page-without-pte", f"after {who}: page{pfn} is counted as mapped but no "
                                      "pte points to it")


def check_end(k: Machine, deadlocked: bool, dead: frozenset[int] = frozenset()) -> None:
    """End-of-run checks: what is left mapped, linked, allocated and held.

    ``dead``: threads that oopsed; whatever they held stays held (as in the
    kernel), so the clean-exit checks leave their CPU and locks out."""
    if deadlocked:
        k.violate("deadlock", "threads are left and none can move")
        return
    live = _vmas(k)
    for pt in k.pt_pages.values():
        if pt.state is not PtState.LINKED or pt.level == "pgd":
            continue
        lo, hi = pt.base, pt.base + pt.span
        if not any(v.vm_start < hi and lo < v.vm_end for v in live):
            k.violate("pgtable-leak", f"{pt.level} table pt{pt.id} [{lo:#x}, {hi:#x}) is "
                                      "linked but no VMA covers it")
    check_range(k, 0, 1 << 57, "the run")
    check_pages(k, "the run")
    for v in k.vmas.values():
        if v.vm_detached and not v.freed:
            k.violate("vma-leak", f"vma{v.id} left the tree but was never freed "
                                  f"(vm_ref_count {v.vm_ref_count})")
        elif not v.vm_detached and v in k.mm.mmap and v.vm_ref_count != 1:
            k.violate("vma-leak", f"vma{v.id} is in the tree with vm_ref_count "
                                  f"{v.vm_ref_count}: a reference was not dropped")
    dead_cpus = {t.cpu for t in k.tasks if t.tid in dead}
    for c in k.cpus:
        if not c.irqs_on and c.id not in dead_cpus:
            k.violate("irqs-left-off", f"cpu{c.id} still has IRQs off")
    locks = [(f"ptl(pt{i})", lk.owner) for i, lk in k.ptl.items()]
    locks.append(("page_table_lock", k.mm.page_table_lock.owner))
    locks.append(("mmap_lock (write)", k.mm.mmap_lock.writer))
    locks.extend(("mmap_lock (read)", r) for r in sorted(k.mm.mmap_lock.readers))
    for v in k.vmas.values():  # 6.12's VMA locks (readers hold them through a fault)
        locks.append((f"{v.vm_lock.name} (write)", v.vm_lock.writer))
        locks.extend((f"{v.vm_lock.name} (read)", r) for r in sorted(v.vm_lock.readers))
    for name, owner in locks:
        if owner is not None and owner not in dead:
            k.violate("lock-left-held", f"{name} is still held by T{owner}")
    readers = k.rcu_readers - dead
    if readers or k.rcu_callbacks:
        k.violate("rcu-unbalanced", "still inside rcu_read_lock(): "
                  + (", ".join(f"T{r}" for r in sorted(readers)) or "nobody")
                  + f"; {len(k.rcu_callbacks)} RCU callback(s) not run")


# --- the events the model announces, and the judge of each ----------------------------------
#
# Model code does what the C does and says so (``k.event(t, "put_vma", vma)``); whether that
# broke an invariant is decided here, and only here. A judge runs inside the step that
# announced it, so what it reads is part of that step's recorded footprint (a verdict that
# depends on the order of two steps must make them conflict).


def _store(k: Machine, t: Task, pt: PageTablePage, idx: int, e: Entry) -> None:
    """A store into a page-table entry (``set_pte_at()``, ``ptep_get_and_clear()``,
    ``pmd_populate()``, ``pmd_clear()`` ...), before it lands."""
    if pt.state is PtState.FREED:
        k.violate("use-after-free",
                  f"T{t.tid} writes entry {idx} of freed page table pt{pt.id}")
    if pt.level == "pte":
        addr = pt.address_of(idx)
        ptl = k.ptl[pt.id]
        if ptl.owner != t.tid:
            k.violate("pte-lock", f"T{t.tid} writes the pte for {addr:#x} without "
                                  f"holding {ptl.name}")
        if e.kind is Kind.PAGE and pt.state is PtState.UNLINKED:
            k.violate("pte-in-unlinked-table", f"T{t.tid} installs a pte for {addr:#x} "
                                               f"into unlinked page table pt{pt.id}")
        old = pt.get(idx)
        if (old.kind is Kind.PAGE and not old.special and e.kind is Kind.PAGE
                and e.target != old.target and k.pages.get(old.target) == "mapped"):
            k.violate("pte-overwritten",
                      f"T{t.tid} overwrites the pte for {addr:#x}, which maps "
                      f"page{old.target}, with page{e.target}: page{old.target} stays "
                      "counted as mapped with no pte")


def _read_entry(k: Machine, t: Task, pt: PageTablePage, idx: int) -> None:
    """``READ_ONCE(*pXd)``: an entry of a page table read."""
    if pt.state is PtState.FREED:
        k.violate("use-after-free", f"T{t.tid} reads entry {idx} of freed page table pt{pt.id}")


def _pte_lockptr(k: Machine, t: Task, pt: PageTablePage) -> None:
    """``pte_lockptr()``: the PTE lock found in the struct page of a pte table."""
    if pt.state is PtState.FREED:
        k.violate("use-after-free", f"T{t.tid} reads the PTE lock in freed page table "
                                    f"pt{pt.id}")


def _pxd_populate(k: Machine, t: Task, parent: PageTablePage, new: PageTablePage) -> None:
    """``pmd_populate()`` and the like: a new table linked into ``parent``."""
    if parent.state is not PtState.LINKED:
        k.violate("use-after-free" if parent.state is PtState.FREED else "pgtable-leak",
                  f"T{t.tid} links new table pt{new.id} into {parent.state.value} "
                  f"table pt{parent.id}")


def _put_page(k: Machine, t: Task, pfn: int) -> None:
    """``put_page()`` of the last reference, after the page is freed: nothing maps it."""
    for pt in k.pt_pages.values():
        if pt.state is PtState.FREED:
            continue
        for idx, e in pt.entries.items():
            if e.kind in (Kind.PAGE, Kind.HUGE) and e.target == pfn and not e.special:
                k.violate("pte-to-freed-page",
                          f"T{t.tid} frees page{pfn}, which pt{pt.id}[{idx}] still maps")


def _vma_read(k: Machine, t: Task, vma: VmAreaStruct, where: str = "") -> None:
    """A read of a VMA's fields (``where``: in which function, when the words say it)."""
    if vma.freed:
        k.violate("use-after-free", f"T{t.tid} reads freed vma{vma.id}{where}")


def _put_vma(k: Machine, t: Task, vma: VmAreaStruct) -> None:
    """``put_vma()``: a reference dropped."""
    if vma.freed:
        k.violate("use-after-free", f"T{t.tid} drops a reference on freed vma{vma.id}")


def _mpol_read(k: Machine, t: Task, pol: Mempolicy, vma: VmAreaStruct) -> None:
    """``pol->mode`` read through ``vma->vm_policy``."""
    if pol.freed:
        k.violate("use-after-free", f"T{t.tid} reads the mode of pol{pol.id}, vma{vma.id}'s "
                                    "policy, which mbind() freed")


def _mmap_lock(k: Machine, t: Task) -> None:
    """``mmap_read_lock()``/``mmap_write_lock()``."""
    if t.in_spf:
        k.violate("spf-holds-mmap_lock", f"T{t.tid} takes mmap_lock inside "
                                         "handle_speculative_fault()")


def _handle_userfault(k: Machine, t: Task) -> None:
    """``handle_userfault()`` drops ``mmap_lock`` while user space resolves the fault."""
    if not k.mm.mmap_lock.held_by(t.tid):
        k.violate("spf-holds-mmap_lock",
                  f"T{t.tid} calls handle_userfault(), which drops mmap_lock, without it")


def _vm_ops_fault(k: Machine, t: Task, vma: VmAreaStruct) -> None:
    """``vma->vm_ops->fault()``: the file system may drop ``mmap_lock``, or rely on it."""
    if not k.mm.mmap_lock.held_by(t.tid):
        k.violate("needs-mmap_lock", f"T{t.tid} calls {vma.vm_ops}->fault() without mmap_lock "
                                     "(it may drop it, or rely on it for the file's mapping)")


def _anon_vma_prepare(k: Machine, t: Task, vma: VmAreaStruct) -> None:
    """``__anon_vma_prepare()``: it reads the VMA's neighbours, under ``mmap_lock``."""
    if not k.mm.mmap_lock.held_by(t.tid):
        k.violate("needs-mmap_lock", f"T{t.tid} prepares vma{vma.id}'s anon_vma without "
                                     "mmap_lock (it reads the VMA's neighbours)")


def _setpte(k: Machine, t: Task, vma: VmAreaStruct | None, vma_flags: int,
            address: int) -> None:
    """``do_anonymous_page()``'s ``set_pte_at()``: a fault that saw the range registered with
    userfaultfd (``vma_flags``, its snapshot) hands the fault to user space instead."""
    if vma is not None and vma_flags & VM_UFFD_MISSING and vma.vm_flags & VM_UFFD_MISSING:
        k.violate("uffd-bypass", f"T{t.tid} maps {address:#x} itself although it saw "
                                 "the range registered with userfaultfd")


def _writer_done(who: str) -> Callable[..., None]:
    """A writer's system call returns: its range is judged (:func:`check_range`)."""
    def judge(k: Machine, t: Task, start: int, end: int, what: str = "") -> None:
        check_range(k, start, end, f"T{t.tid}'s {who}{what}")
    return judge


def _fault_done(k: Machine, t: Task, address: int, write: bool, fault: int,
                writes_before: int) -> None:
    """``do_user_addr_fault()`` returns: a fault that reports success leaves its page mapped,
    unless a writer touched the page meanwhile (``lost-fault``)."""
    if fault & VM_FAULT_ERROR or fault & VM_FAULT_RETRY or t.refault or \
            k.touched_since(writes_before, address):
        return
    vma = k.find_vma_at(address)
    if not k.mapped(address, write):
        k.violate("lost-fault", f"T{t.tid}'s fault at {address:#x} returned success "
                                "but the page is not mapped (and no writer touched it)")
    elif vma is not None and vma.vm_pkey in k.pkru_denied:
        # The MMU checks the key on every access: "success" means the access
        # faults again, forever.
        k.violate("lost-fault", f"T{t.tid}'s fault at {address:#x} returned success but "
                                f"protection key {vma.vm_pkey} still denies the access")


def _bad_area(k: Machine, t: Task, address: int, error_code: int) -> None:
    """``bad_area()`` or ``bad_area_access_error()``: the fault is about to send SIGSEGV.  It
    must have decided on the VMA the tree holds now, so that one must refuse too: a fault
    that judged a VMA which no longer covers the address refuses a legal access."""
    # Imported here: fault.py imports the fault path, which imports the machine and so this
    # module; access_error() is the same rule the fault applied.
    from .fault import access_error

    vma = next((v for v in _vmas(k) if v.contains(address)), None)
    if vma is not None and not access_error(t, error_code, vma):
        k.violate("wrong-sigsegv", f"T{t.tid}'s fault at {address:#x} sends SIGSEGV, but "
                                   f"the VMA that covers it now "
                                   f"[{vma.vm_start:#x}, {vma.vm_end:#x}) allows the access")


#: Every event the model announces (``Machine.event``), by its kernel name, and its judge.
JUDGES: dict[str, Callable[..., None]] = {
    "store": _store,
    "read_entry": _read_entry,
    "pte_lockptr": _pte_lockptr,
    "pmd_populate": _pxd_populate,
    "put_page": _put_page,
    "vma_read": _vma_read,
    "put_vma": _put_vma,
    "pol->mode": _mpol_read,
    "mmap_lock": _mmap_lock,
    "handle_userfault": _handle_userfault,
    "vm_ops->fault": _vm_ops_fault,
    "__anon_vma_prepare": _anon_vma_prepare,
    "set_pte_at": _setpte,
    "munmap": _writer_done("munmap"),
    "mprotect": _writer_done("mprotect"),
    "mremap": _writer_done("mremap"),
    "do_user_addr_fault": _fault_done,
    "bad_area": _bad_area,
}
