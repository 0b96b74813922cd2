"""``arch/x86/mm/fault.c``: the user page-fault entry.

Try the speculative handler first.  Anything but a clean result —
``VM_FAULT_RETRY`` (it gave up) or an error (the classic path must raise the
signal with the VMA in hand) — falls back to the classic path under
``mmap_sem``, which is always correct, only slower under contention.
"""

from __future__ import annotations

from .locking import down_read, up_read
from .memory import handle_mm_fault, handle_speculative_fault
from .mm_types import (
    FAULT_FLAG_INSTRUCTION,
    FAULT_FLAG_REMOTE,
    FAULT_FLAG_WRITE,
    VM_EXEC,
    VM_FAULT_ERROR,
    VM_FAULT_RETRY,
    VM_FAULT_SIGSEGV,
    VM_READ,
    VM_WRITE,
    MmStruct,
    VmAreaStruct,
)
from .mmap import find_vma
from .task import Gen, Src, Task

F = "arch/x86/mm/fault.c"


def _s(fn: str, snippet: str) -> Src:
    return Src(F, fn, snippet)


def access_error(t: Task, flags: int, vma: VmAreaStruct) -> bool:
    """The classic path's rights check (pkeys, then VM_WRITE / any access)."""
    from .memory import arch_vma_access_permitted

    write = bool(flags & FAULT_FLAG_WRITE)
    if not arch_vma_access_permitted(t.kernel, vma.vm_pkey, write,
                                     bool(flags & FAULT_FLAG_INSTRUCTION),
                                     bool(flags & FAULT_FLAG_REMOTE)):
        return True
    if write:
        return not vma.vm_flags & VM_WRITE
    return not vma.vm_flags & (VM_READ | VM_EXEC | VM_WRITE)


def do_user_addr_fault(t: Task, mm: MmStruct, address: int, flags: int,
                       speculative: bool = True) -> Gen:
    """Returns the fault result; ``t.spf_result`` keeps the speculative one."""
    t.spf_result = None  # type: ignore[attr-defined]
    k = t.kernel
    epoch = (k.pt_writes, _vma_epoch(k))
    t.refault = False
    fault = yield from _do_user_addr_fault(t, mm, address, flags, speculative)
    undisturbed = (k.pt_writes, _vma_epoch(k)) == epoch
    if fault == 0 and undisturbed and not t.refault and \
            not k.mapped(address, bool(flags & FAULT_FLAG_WRITE)):
        k.violate("lost-fault", f"T{t.tid}'s fault at {address:#x} returned success "
                                "but the page is not mapped")
    vma = k.find_vma_at(address)
    if fault == 0 and vma is not None and vma.vm_pkey in k.pkru_denied:
        # The MMU checks the key on every access: "success" means the access
        # faults again, forever.
        k.violate("lost-fault", f"T{t.tid}'s fault at {address:#x} returned success but "
                                f"protection key {vma.vm_pkey} still denies the access")
    if fault & VM_FAULT_ERROR and undisturbed:
        vma = k.find_vma_at(address)
        if vma is not None and not access_error(t, flags, vma):
            k.violate("spurious-error", f"T{t.tid}'s fault at {address:#x} failed "
                                        "although its VMA allows the access and no writer ran")
    return fault


def _vma_epoch(k) -> tuple:
    """Changes whenever a writer changes any VMA (its count) or the tree."""
    return (tuple(v.id for v in k.mm.mmap),
            tuple(v.vm_sequence.sequence for v in k.vmas.values()))


def _do_user_addr_fault(t: Task, mm: MmStruct, address: int, flags: int,
                        speculative: bool) -> Gen:
    fn = "do_user_addr_fault"
    if speculative:
        fault = yield from handle_speculative_fault(t, mm, address, flags)
        t.spf_result = fault  # type: ignore[attr-defined]
        if not (fault & VM_FAULT_RETRY or fault & VM_FAULT_ERROR):
            return fault
    # vma = lock_mm_and_find_vma(mm, address, regs);
    yield from down_read(t, mm.mmap_sem, Src("mm/memory.c", "lock_mm_and_find_vma",
                                             "if (!get_mmap_lock_carefully(mm, regs))"))
    vma = yield from find_vma(t, mm, address, Src("mm/memory.c", "lock_mm_and_find_vma",
                                                  "vma = find_vma(mm, addr);",
                                                  after="get_mmap_lock_carefully(mm, regs)"))
    if vma is None or vma.vm_start > address:
        # No stack expansion in the model: a hole is a hole.
        t.note("bad_area: no VMA covers the address")
        yield from up_read(t, mm.mmap_sem, _s(fn, "mmap_read_unlock(mm);"))
        return VM_FAULT_SIGSEGV
    if access_error(t, flags, vma):
        t.note("bad_area_access_error: the VMA does not allow this access")
        yield from up_read(t, mm.mmap_sem, _s(fn, "mmap_read_unlock(mm);"))
        return VM_FAULT_SIGSEGV
    fault = yield from handle_mm_fault(t, vma, address, flags)
    yield from up_read(t, mm.mmap_sem, _s(fn, "mmap_read_unlock(mm);"))
    return fault
