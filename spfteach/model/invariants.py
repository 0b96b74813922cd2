"""The invariants a correct fault path keeps, whatever the interleaving.

Each has a stable name; a violation names it.  They are not all global
predicates checked after every step, because the kernel's own writers
legitimately pass through states such a predicate would reject: ``munmap()``
detaches the VMA before it zaps the PTEs, ``mprotect()`` changes the flags
before it rewrites them, and a speculative fault that validated its VMA under
the PTE lock may install its PTE just after the writer changed the VMA — the
writer then waits for that lock and fixes the PTE.  So each is judged where it
becomes certain: an access to freed memory at the access; the mappings of a
range when the writer that changed it is done (``check_range``); deadlock,
leaks and what is left mapped when no thread can move any more.
"""

from __future__ import annotations

from .pgtable import Kind, PtState

INVARIANTS: dict[str, str] = {
    "use-after-free": "no access to a freed VMA or page-table page",
    "pte-outside-vma": "no PTE installed where no live VMA (in the tree) covers the address",
    "pte-in-unlinked-table": "no PTE installed into a page table that is unlinked or freed",
    "pte-rights": "no PTE grants rights (write) that the VMA no longer grants",
    "lost-fault": "a fault that reports success leaves its page mapped",
    "deadlock": "threads are left and none of them can move",
    "spf-holds-mmap_sem": "the speculative path never takes mmap_sem",
    "needs-mmap_sem": "code that requires mmap_sem (anon_vma_prepare) runs with it held",
    "spurious-error": "a fault fails only if its VMA (or a writer) gives a reason",
    "pgtable-leak": "no page table stays linked where no VMA needs it",
    "pte-lock": "a PTE is written only by the holder of its page table's lock",
    "uffd-bypass": "a fault that saw the range registered with userfaultfd does not map "
                   "the page itself",
    "oops": "the code never follows a pointer into nonsense (the model raised an error where "
            "the kernel would oops)",
    "vma-leak": "a VMA removed from the tree is freed once nobody holds a reference",
}


def check_range(k, start: int, end: int, who: str) -> None:
    """Every present PTE in ``[start, end)`` lies in a live VMA that grants its
    rights: the postcondition of a writer that unmapped or protected the range."""
    live = [v for v in k.mm.mmap if not v.vm_detached]
    for pt in k.pt_pages.values():
        if pt.level != "pte" or pt.state is not PtState.LINKED:
            continue
        if not (pt.base < end and start < pt.base + pt.span):
            continue
        for idx, e in pt.entries.items():
            addr = pt.address_of(idx)
            if e.kind is not Kind.PAGE or not start <= addr < end:
                continue
            vma = next((v for v in live if v.contains(addr)), None)
            if vma is None:
                k.violate("pte-outside-vma", f"after {who}: pte at {addr:#x} (pt{pt.id}[{idx}]) "
                                             "is mapped outside any VMA")
            elif e.write and not vma.vm_flags & 0x2:
                k.violate("pte-rights", f"after {who}: writable pte at {addr:#x} in "
                                        f"vma{vma.id}, which has no VM_WRITE")
            elif not vma.vm_flags & 0x7:
                k.violate("pte-rights", f"after {who}: pte at {addr:#x} in PROT_NONE "
                                        f"vma{vma.id}")


def check_end(k, deadlocked: bool) -> None:
    """End-of-run checks: what is left mapped, linked and allocated."""
    if deadlocked:
        k.violate("deadlock", "threads are left and none can move")
        return
    live = [v for v in k.mm.mmap if not v.vm_detached]
    for pt in k.pt_pages.values():
        if pt.state is not PtState.LINKED or pt.level == "pgd":
            continue
        lo, hi = pt.base, pt.base + pt.span
        if not any(v.vm_start < hi and lo < v.vm_end for v in live):
            k.violate("pgtable-leak", f"{pt.level} table pt{pt.id} [{lo:#x}, {hi:#x}) is "
                                      "linked but no VMA covers it")
    check_range(k, 0, 1 << 57, "the run")
    for v in k.vmas.values():
        if v.vm_detached and not v.freed:
            k.violate("vma-leak", f"vma{v.id} left the tree but was never freed "
                                  f"(vm_ref_count {v.vm_ref_count})")
