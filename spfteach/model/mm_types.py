"""``mm_struct``, ``vm_area_struct`` and ``vm_fault``; flags from ``include/linux/mm.h``.

The fields are the ones the speculative path reads.  ``vm_sequence`` and
``vm_ref_count`` are the SPF additions: the first tells a lockless reader that
a writer changed the VMA, the second keeps a VMA that ``munmap()`` removed
alive until the reader lets go of it (``get_vma()``/``put_vma()``).
``vm_detached`` is the port's flag: ``vma_mark_detached()`` set it, inside the
VMA's write section, just before munmap() removes it from the tree.

``vm_lock`` and ``vm_lock_seq`` (on the VMA) and ``mm_lock_seq`` (on the mm) are the
per-VMA lock of Linux 6.4 as 6.12 has it (:mod:`.pervma`): they exist in every run and
only the per-VMA design's steps touch them.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import footprint as fp
from .locking import RwLock, Spinlock
from .pgtable import Entry, PageTablePage
from .record import HOLDER, recorded
from .seqlock import SeqCount
from .state import CONSTANT, ident, ids, not_state, state

# vm_flags (values as in include/linux/mm.h)
VM_NONE = 0x0
VM_READ = 0x1
VM_WRITE = 0x2
VM_EXEC = 0x4
VM_SHARED = 0x8
VM_GROWSDOWN = 0x100
VM_UFFD_MISSING = 0x200
#: x86 has no stack growing up: the kernel defines VM_GROWSUP as VM_NONE there,
#: so this half of the seed's test is compiled to nothing on x86-64.
VM_GROWSUP = VM_NONE

FLAG_NAMES = {
    VM_READ: "VM_READ",
    VM_WRITE: "VM_WRITE",
    VM_EXEC: "VM_EXEC",
    VM_SHARED: "VM_SHARED",
    VM_GROWSDOWN: "VM_GROWSDOWN",
    VM_UFFD_MISSING: "VM_UFFD_MISSING",
}

# enum fault_flag
FAULT_FLAG_WRITE = 0x01
FAULT_FLAG_ALLOW_RETRY = 0x04
FAULT_FLAG_KILLABLE = 0x10
FAULT_FLAG_USER = 0x40
FAULT_FLAG_REMOTE = 0x80
FAULT_FLAG_INSTRUCTION = 0x100
FAULT_FLAG_INTERRUPTIBLE = 0x200
FAULT_FLAG_SPECULATIVE = 0x1000
#: 6.12's "only the VMA is locked" (``1 << 12`` there, the bit our series gives
#: FAULT_FLAG_SPECULATIVE in 6.1; the model, which has both, gives it the next bit)
FAULT_FLAG_VMA_LOCK = 0x2000
#: what do_user_addr_fault() starts every fault with
FAULT_FLAG_DEFAULT = FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE | FAULT_FLAG_INTERRUPTIBLE

# vm_fault_t
VM_FAULT_OOM = 0x0001
VM_FAULT_SIGBUS = 0x0002
VM_FAULT_WRITE = 0x0008  # do_wp_page() reused the page: not an error
VM_FAULT_SIGSEGV = 0x0040
VM_FAULT_RETRY = 0x0400
VM_FAULT_ERROR = VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV

# Memory policies (include/uapi/linux/mempolicy.h)
MPOL_DEFAULT = "default"
MPOL_BIND = "bind"
MPOL_INTERLEAVE = "interleave"


def flags_str(flags: int) -> str:
    names = [n for bit, n in FLAG_NAMES.items() if flags & bit]
    return "|".join(names) if names else "VM_NONE"


def fault_str(ret: int) -> str:
    """A fault result in the kernel's words."""
    if ret == 0:
        return "0 (handled)"
    names = {
        VM_FAULT_OOM: "VM_FAULT_OOM",
        VM_FAULT_SIGBUS: "VM_FAULT_SIGBUS",
        VM_FAULT_WRITE: "VM_FAULT_WRITE (handled, page reused for writing)",
        VM_FAULT_SIGSEGV: "VM_FAULT_SIGSEGV",
        VM_FAULT_RETRY: "VM_FAULT_RETRY",
    }
    return "|".join(n for bit, n in names.items() if ret & bit) or hex(ret)


def vm_get_page_prot(flags: int) -> str:
    """``vm_get_page_prot()``: the PTE protection of a private mapping.

    Private writable mappings get a read-only protection (copy on write); the
    fault handler adds the write bit with ``pte_mkwrite()`` when VM_WRITE is set.
    """
    if not flags & (VM_READ | VM_WRITE | VM_EXEC):
        return "PAGE_NONE"
    if flags & VM_SHARED and flags & VM_WRITE:
        return "PAGE_SHARED"
    return "PAGE_COPY" if flags & VM_WRITE else "PAGE_READONLY"


def linear_page_index(vma: VmAreaStruct, address: int) -> int:
    """``linear_page_index()`` (include/linux/pagemap.h): the page's offset in the
    VMA's object, in unsigned long arithmetic as in C — an address below
    ``vm_start`` wraps around instead of going negative."""
    return ((((address - vma.vm_start) % 2**64) >> 12) + vma.vm_pgoff) % 2**64


@recorded(fp.vma)
@dataclass
class VmAreaStruct:
    """A VMA: ``[vm_start, vm_end)`` with flags, protection and SPF state."""

    id: int = ident()
    vm_start: int = state()
    vm_end: int = state()
    vm_flags: int = state()
    vm_page_prot: str = state(default="")
    anon_vma: int | None = state(default=None)
    vm_ops: str | None = state(default=None)
    #: a private /dev/zero mapping: anonymous, with a file
    vm_file: str | None = state(default=None)
    #: the VMA's own NUMA policy: an id in ``Machine.policies`` (None: the task's)
    vm_policy: int | None = state(default=None)
    #: page offset of ``vm_start``: ``vm_start >> PAGE_SHIFT`` for a fresh
    #: anonymous mapping (-1: compute it so)
    vm_pgoff: int = state(default=-1)
    vm_pkey: int = state(default=0)  # x86 protection key (bits of vm_flags in the kernel)
    vm_sequence: SeqCount = state(fp=HOLDER, default_factory=lambda: SeqCount("vm_sequence"))
    vm_ref_count: int = state(default=1)  # the tree's reference
    vm_detached: bool = state(default=False)  # vma_mark_detached()
    freed: bool = state(default=False)
    #: 6.12's ``vma->vm_lock->lock``: readers hold it for reading through a fault,
    #: ``vma_start_write()`` takes it for writing only to wait for them
    vm_lock: RwLock = state(fp=HOLDER, default_factory=lambda: RwLock("vm_lock"))
    #: 6.12's ``vma->vm_lock_seq``: equal to ``mm->mm_lock_seq`` while a writer has
    #: the VMA write-locked (-1: never locked, as ``vma_lock_init()`` leaves it)
    vm_lock_seq: int = state(default=-1)

    def __post_init__(self) -> None:
        if not self.vm_page_prot:
            self.vm_page_prot = vm_get_page_prot(self.vm_flags)
        if self.vm_pgoff < 0:
            self.vm_pgoff = self.vm_start >> 12
        self.vm_sequence.name = f"vma{self.id}.vm_sequence"
        self.vm_sequence.obj = fp.vm_sequence(self)
        # the lock belongs to the VMA's fields: a reader holding it reads them
        self.vm_lock.name = f"vma{self.id}.vm_lock"
        self.vm_lock.obj = fp.vma(self)

    def contains(self, address: int) -> bool:
        return self.vm_start <= address < self.vm_end

    def snapshot(self) -> dict[str, object]:
        """The fields in words, for :class:`.snapshot.Snapshot`."""
        return {
            "range": f"{self.vm_start:#x}-{self.vm_end:#x}",
            "vm_flags": flags_str(self.vm_flags),
            "vm_page_prot": self.vm_page_prot,
            "anon_vma": "none" if self.anon_vma is None else f"av{self.anon_vma}",
            "vm_ops": self.vm_ops or "none",
            "vm_file": self.vm_file or "none",
            "vm_policy": "none" if self.vm_policy is None else f"pol{self.vm_policy}",
            "vm_pgoff": f"{self.vm_pgoff:#x}",
            "vm_pkey": self.vm_pkey,
            "vm_sequence": self.vm_sequence.sequence,
            "vm_ref_count": self.vm_ref_count,
            "in_tree": "no (vm_detached)" if self.vm_detached else "yes",
            "freed": self.freed,
            "vm_lock": self.vm_lock.snapshot(),
            "vm_lock_seq": self.vm_lock_seq,
        }


@recorded(lambda mm: fp.TREE)
@dataclass
class MmStruct:
    """The address space: its VMA tree, its page tables and their locks."""

    #: the top table: it never changes (its entries are state, in ``Machine.pt_pages``)
    pgd: PageTablePage = ident()
    la57: bool = not_state(CONSTANT, default=False)
    #: the tree, sorted; its VMAs are state in ``Machine.vmas``
    mmap: list[VmAreaStruct] = state(key=ids, default_factory=list)
    mmap_lock: RwLock = state(
        fp=HOLDER, default_factory=lambda: RwLock("mmap_lock", obj=fp.MMAP_LOCK))
    #: 6.12's ``mm->mm_lock_seq``: odd while a writer holds ``mmap_lock`` for writing
    #: (``mmap_write_lock()`` begins it, ``vma_end_write_all()`` ends it)
    mm_lock_seq: SeqCount = state(
        fp=HOLDER, default_factory=lambda: SeqCount("mm_lock_seq", obj=fp.MMAP_LOCK))
    page_table_lock: Spinlock = state(
        fp=HOLDER, default_factory=lambda: Spinlock("page_table_lock", obj=fp.PAGE_TABLE_LOCK))
    #: the task's NUMA policy (``current->mempolicy``): set by the scenario, and no step
    #: changes it (the model has no ``set_mempolicy()``)
    task_policy: str = not_state(CONSTANT, default=MPOL_DEFAULT)


@dataclass
class VmFault:
    """``struct vm_fault``: what one fault carries from step to step.

    ``sequence``, ``orig_pmd``, ``vma_flags`` and ``vma_page_prot`` are the SPF
    additions: values cached at the start so that later steps use the snapshot
    that ``vma_has_changed()`` validates, not a re-read that could be newer.
    """

    address: int
    flags: int = 0
    vma: VmAreaStruct | None = None
    sequence: int = 0
    vma_flags: int = 0
    vma_page_prot: str = ""
    pud: tuple[PageTablePage, int] | None = None  # (table page, index)
    pmd: tuple[PageTablePage, int] | None = None
    orig_pmd: Entry | None = None
    pte: tuple[PageTablePage, int] | None = None
    orig_pte: Entry | None = None
    ptl: Spinlock | None = None
