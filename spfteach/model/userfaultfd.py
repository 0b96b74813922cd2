"""``fs/userfaultfd.c``: registering a range for missing-page faults.

After registration, a missing-page fault in the range must be handed to the
user-space monitor instead of mapping a zeroed page.  The monitor protocol
drops ``mmap_lock`` while it waits, so the speculative path (which does not hold
it) refuses such VMAs — and, if the range is registered after that check,
ignores the registration for this one fault rather than call
``handle_userfault()``.
"""

from __future__ import annotations

from .locking import down_write, up_write
from .mm import vm_write_begin, vm_write_end
from .mm_types import VM_UFFD_MISSING, MmStruct, flags_str
from .mmap import find_vma
from .task import Gen, Src, Task

F = "fs/userfaultfd.c"


def _s(snippet: str) -> Src:
    return Src(F, "userfaultfd_register", snippet)


def _set(snippet: str) -> Src:
    return Src(F, "userfaultfd_set_vm_flags", snippet)


def userfaultfd_register(t: Task, mm: MmStruct, start: int) -> Gen:
    yield from down_write(t, mm.mmap_lock, _s("mmap_write_lock(mm);"))
    vma = yield from find_vma(t, mm, start)
    assert vma is not None
    # userfaultfd_set_vm_flags(vma, new_flags): the flags change inside the
    # VMA's write section.
    yield from vm_write_begin(t, vma, _set("vm_write_begin(vma);"))
    yield t.at(_set("vma->vm_flags = flags;"))
    old = vma.vm_flags
    vma.vm_flags |= VM_UFFD_MISSING
    t.did(f"vma{vma.id}.vm_flags {flags_str(old)}→{flags_str(vma.vm_flags)}")
    yield from vm_write_end(t, vma, _set("vm_write_end(vma);"))
    yield from up_write(t, mm.mmap_lock, _s("mmap_write_unlock(mm);"))
    return 0
