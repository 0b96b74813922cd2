"""The invariants a correct fault path keeps, whatever the interleaving.

Each has a stable name; a violation names it.  They are not all global
predicates checked after every step, because the kernel's own writers
legitimately pass through states such a predicate would reject: ``munmap()``
detaches the VMA before it zaps the PTEs, ``mprotect()`` changes the flags
before it rewrites them, and a speculative fault that validated its VMA under
the PTE lock may install its PTE just after the writer changed the VMA — the
writer then waits for that lock and fixes the PTE.  So each is judged where it
becomes certain: an access to freed memory at the access; a store that drops a
counted page at the store; the mappings of a range when the writer that changed
it is done (``check_range``); deadlock, leaks, what is left mapped and the state
each thread leaves behind when no thread can move any more (``check_end``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import footprint as fp
from .footprint import Use
from .mm_types import VM_EXEC, VM_READ, VM_WRITE, linear_page_index
from .pgtable import Kind, PtState

if TYPE_CHECKING:
    from .machine import Machine

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


def check_range_use(k: Machine) -> Use:
    """What :func:`check_range` reads (in the step of the writer's last
    announcement): every page table, the VMAs in the tree, the pages and rmaps."""
    return Use((fp.every(fp.PT), *fp.tree(k.mm), fp.PAGES))


#: What ``do_user_addr_fault()`` reads to judge a fault that returned success
#: (``lost-fault``, in the fault's last step): the writes log, the VMA at the
#: address (its protection key) and the walk of the address.  The fault holds
#: no lock that keeps those where they are while the step waits: the tree,
#: every VMA, every page table.
LOST_FAULT = Use((fp.WRITES, fp.TREE, fp.every(fp.VMA), fp.every(fp.PT)))


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
    for name, owner in locks:
        if owner is not None and owner not in dead:
            k.violate("lock-left-held", f"{name} is still held by T{owner}")
    readers = k.rcu_readers - dead
    if readers or k.rcu_callbacks:
        k.violate("rcu-unbalanced", "still inside rcu_read_lock(): "
                  + (", ".join(f"T{r}" for r in sorted(readers)) or "nobody")
                  + f"; {len(k.rcu_callbacks)} RCU callback(s) not run")
