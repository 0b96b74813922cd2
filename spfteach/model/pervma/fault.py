"""``arch/x86/mm/fault.c`` of 6.12: try the VMA lock first, then ``mmap_lock``.

A user fault first looks its VMA up without ``mmap_lock`` (``lock_vma_under_rcu()``).  With the
VMA read-locked it runs the ordinary fault path with ``FAULT_FLAG_VMA_LOCK``, and drops the lock
itself unless the path did (on ``VM_FAULT_RETRY``).  No VMA found, a VMA that would not lock, or
``VM_FAULT_RETRY``: the fault goes to ``lock_mmap:``, the classic path under ``mmap_lock``
(``spfteach.model.fault.lock_mmap``).  Unlike the speculative handler there is nothing to
validate afterwards: what the fault read cannot have changed, because a writer must
write-lock the VMA first and that waits for this fault to finish.
"""

from __future__ import annotations

from ..fault import access_error, lock_mmap
from ..memory import handle_mm_fault
from ..mm_types import (
    FAULT_FLAG_USER,
    FAULT_FLAG_VMA_LOCK,
    VM_FAULT_RETRY,
    VM_FAULT_SIGSEGV,
    MmStruct,
)
from ..task import Gen, Src, Task
from . import checks as PV
from . import src
from .memory import lock_vma_under_rcu
from .mm import vma_end_read

F = "arch/x86/mm/fault.c"


def _s(fn: str, snippet: str, after: str = "") -> Src:
    return src(F, fn, snippet, after)


def do_user_addr_fault(t: Task, mm: MmStruct, address: int, error_code: int,
                       flags: int) -> Gen:
    fn = "do_user_addr_fault"
    k = t.machine
    yield t.at(_s(fn, "if (!(flags & FAULT_FLAG_USER))"), local=True)
    t.did("a user fault: try the VMA lock")
    if flags & FAULT_FLAG_USER:
        vma = yield from lock_vma_under_rcu(t, mm, address)
        if vma is not None:
            early = k.mutated(PV.VMA_END_READ_EARLY)
            if early:
                t.note("(mutant) drops the VMA lock before handling the fault")
                yield from vma_end_read(t, vma)
            yield t.at(_s(fn, "if (unlikely(access_error(error_code, vma))) {",
                          after="vma = lock_vma_under_rcu(mm, address);"))
            k.use_vma(t, vma)
            denied = access_error(t, error_code, vma)
            t.did("access_error(): " + ("the VMA does not allow this access" if denied
                                        else "the VMA allows the access"))
            if denied:
                # bad_area_access_error(regs, error_code, address, NULL, vma)
                k.event(t, "bad_area", address, error_code)
                if not early:
                    yield from vma_end_read(t, vma)
                return VM_FAULT_SIGSEGV
            fault = yield from handle_mm_fault(t, vma, address, flags | FAULT_FLAG_VMA_LOCK)
            if not fault & VM_FAULT_RETRY:
                if not early:
                    yield from vma_end_read(t, vma)
                t.note("VMA_LOCK_SUCCESS")
                return fault
            t.note("VMA_LOCK_RETRY: the fault path dropped the VMA lock; take mmap_lock")
    return (yield from lock_mmap(t, mm, address, error_code, flags))
