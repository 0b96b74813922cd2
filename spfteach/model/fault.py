"""``arch/x86/mm/fault.c``: the user page-fault entry.

The hardware reports *why* it faulted in an error code: ``X86_PF_PROT`` (the page
was present, the access broke its protection), ``X86_PF_WRITE``, ``X86_PF_USER``,
``X86_PF_PK`` (a protection key said no).  ``do_user_addr_fault()`` tries the
speculative handler first — but not when the error code alone decides the
answer (a protection-key fault, a read or fetch denied on a present page): the
classic path raises those signals, and the speculative handler, which looks only
at the VMA, would map or touch the page and let the access fault forever.
Anything but a clean result — ``VM_FAULT_RETRY`` (it gave up) or an error —
falls back to the classic path under ``mmap_lock``, which is always correct,
only slower under contention.

What trying first costs (``spfteach/data/kernel-bench/20261203T151445-vm.json``, QEMU on an
instruction clock, one vCPU, against vanilla 6.1): with the sysctl at 0 a fault
takes under 1 % more instructions (0.992x-0.995x vanilla's pages/s), with the
option compiled out 0.2-0.4 %; with it on, 1-2 % fewer (1.01x-1.02x), except a
huge-page fault, which first tries and gives up on the empty PMD (0.9997x).  A
step the model takes is not a measure of time: the model says what may happen,
the benchmark what it costs.
"""

from __future__ import annotations

from .locking import down_read, up_read
from .memory import handle_mm_fault, handle_speculative_fault
from .mm_types import (
    FAULT_FLAG_DEFAULT,
    FAULT_FLAG_INSTRUCTION,
    FAULT_FLAG_USER,
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
from .mmu_context import arch_vma_access_permitted
from .task import Gen, Src, Task

F = "arch/x86/mm/fault.c"

# enum x86_pf_error_code (arch/x86/include/asm/trap_pf.h)
X86_PF_PROT = 1 << 0
X86_PF_WRITE = 1 << 1
X86_PF_USER = 1 << 2
X86_PF_INSTR = 1 << 4
X86_PF_PK = 1 << 5
X86_PF_SGX = 1 << 15


def error_code_str(error_code: int) -> str:
    names = [n for bit, n in ((X86_PF_PROT, "PROT"), (X86_PF_WRITE, "WRITE"),
                              (X86_PF_USER, "USER"), (X86_PF_INSTR, "INSTR"),
                              (X86_PF_PK, "PK"), (X86_PF_SGX, "SGX")) if error_code & bit]
    return "|".join(names) or "0"


def _s(fn: str, snippet: str, after: str = "") -> Src:
    return Src(F, fn, snippet, after)


def access_error(t: Task, error_code: int, vma: VmAreaStruct) -> bool:
    """The classic path's rights check, from the error code and the VMA."""
    if error_code & (X86_PF_PK | X86_PF_SGX):
        return True  # the hardware said no; nothing can fix it
    if not arch_vma_access_permitted(t.machine, vma.vm_pkey, bool(error_code & X86_PF_WRITE),
                                     bool(error_code & X86_PF_INSTR), False):
        return True
    if error_code & X86_PF_WRITE:
        return not vma.vm_flags & VM_WRITE
    if error_code & X86_PF_PROT:
        return True  # a read denied on a present page
    return not vma.vm_flags & (VM_READ | VM_EXEC | VM_WRITE)


def spf_tried(flags: int, error_code: int) -> bool:
    """The test in front of ``handle_speculative_fault()`` (patch 0013)."""
    return bool(flags & FAULT_FLAG_USER) and not error_code & (X86_PF_PK | X86_PF_SGX) \
        and (not error_code & X86_PF_PROT or bool(error_code & X86_PF_WRITE))


def do_user_addr_fault(t: Task, mm: MmStruct, address: int, error_code: int,
                       speculative: bool = True) -> Gen:
    """Returns the fault result; ``t.spf_result`` keeps the speculative one (None:
    not tried).  ``speculative=False`` is the kernel with the sysctl at 0."""
    t.faults, t.spf_result = True, None
    k = t.machine
    writes_before = len(k.writes)
    t.refault = False
    fault = yield from _do_user_addr_fault(t, mm, address, error_code, speculative)
    k.event(t, "do_user_addr_fault", address, bool(error_code & X86_PF_WRITE), fault,
            writes_before)
    return fault


def _do_user_addr_fault(t: Task, mm: MmStruct, address: int, error_code: int,
                        speculative: bool) -> Gen:
    fn = "do_user_addr_fault"
    flags = FAULT_FLAG_DEFAULT | FAULT_FLAG_USER
    if error_code & X86_PF_WRITE:
        flags |= FAULT_FLAG_WRITE
    if error_code & X86_PF_INSTR:
        flags |= FAULT_FLAG_INSTRUCTION
    if t.machine.design == "per-vma":
        from .pervma.fault import do_user_addr_fault as with_vma_locks

        return (yield from with_vma_locks(t, mm, address, error_code, flags))
    yield t.at(_s(fn, "if (READ_ONCE(sysctl_speculative_page_fault) &&"), local=True)
    tried = speculative and spf_tried(flags, error_code)
    t.did(f"error code {error_code_str(error_code)}: "
          + ("try the speculative handler" if tried else
             "the classic path only" + ("" if speculative else " (sysctl 0)")))
    if tried:
        fault = yield from handle_speculative_fault(t, mm, address, flags)
        t.spf_result = fault
        if not (fault & VM_FAULT_RETRY or fault & VM_FAULT_ERROR):
            return fault
    return (yield from lock_mmap(t, mm, address, error_code, flags))


def lock_mmap(t: Task, mm: MmStruct, address: int, error_code: int, flags: int) -> Gen:
    """The classic path, from the ``lock_mmap:`` label on: under ``mmap_lock``."""
    fn = "do_user_addr_fault"
    # vma = lock_mm_and_find_vma(mm, address, regs);
    yield from down_read(t, mm.mmap_lock, Src("mm/memory.c", "lock_mm_and_find_vma",
                                             "if (!get_mmap_lock_carefully(mm, regs))"))
    vma = yield from find_vma(t, mm, address, Src("mm/memory.c", "lock_mm_and_find_vma",
                                                  "vma = find_vma(mm, addr);",
                                                  after="get_mmap_lock_carefully(mm, regs)"))
    if vma is None or vma.vm_start > address:
        # No stack expansion in the model: a hole is a hole.
        t.note("bad_area: no VMA covers the address")
        t.machine.event(t, "bad_area", address, error_code)
        yield from up_read(t, mm.mmap_lock, Src("mm/memory.c", "lock_mm_and_find_vma",
                                               "mmap_read_unlock(mm);"))
        return VM_FAULT_SIGSEGV
    if access_error(t, error_code, vma):
        t.note("bad_area_access_error: the VMA (or the error code) does not allow this access")
        t.machine.event(t, "bad_area", address, error_code)
        yield from up_read(t, mm.mmap_lock, _s("__bad_area", "mmap_read_unlock(mm);"))
        return VM_FAULT_SIGSEGV
    fault = yield from handle_mm_fault(t, vma, address, flags)
    yield from up_read(t, mm.mmap_lock, _s(fn, "mmap_read_unlock(mm);",
                                          after="if (unlikely(fault & VM_FAULT_RETRY)) {"))
    return fault
