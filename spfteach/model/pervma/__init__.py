"""The second design: per-VMA locks, as Debian's ``linux-source-6.12`` has them.

The speculative page fault was never merged.  Linux 6.4 took another road to the same end (a
fault that does not queue behind ``mmap_lock`` writers): each VMA gets a reader/writer lock, a
fault finds its VMA under RCU and read-locks it (``lock_vma_under_rcu()``), and runs the
ordinary fault path with it held.  Writers, which hold ``mmap_lock`` for writing anyway,
write-lock each VMA they change (``vma_start_write()``) and release all of them at once when they
drop ``mmap_lock`` (``vma_end_write_all()``): a VMA is write-locked while its ``vm_lock_seq``
equals the mm's ``mm_lock_seq``.  Validate-afterwards becomes lock-before.

The files mirror 6.12's (6.12.118, the version in ``kernel/SOURCE-VERSION-6.12``): ``mm.py`` is
``include/linux/mm.h`` and ``include/linux/mmap_lock.h``, ``memory.py`` the parts of
``mm/memory.c`` and ``mm/internal.h`` that know the VMA lock, ``fault.py``
``arch/x86/mm/fault.c``'s entry, ``vma.py`` munmap as ``mm/vma.c`` does it.  Every Src here names a
line of the 6.12 tree (``tree="6.12"``), but the port lines ``lines.py`` maps from.  The ordinary
fault path and the writers' page-level work are the model's (``spfteach.model``), entered with
``FAULT_FLAG_VMA_LOCK`` where 6.12 consults it; ``checks.py`` registers this design's checks and its
mutants.  Their steps are written against our port's 6.1 lines; ``lines.py`` gives each of them the
6.12 line that does the same work at that point, and ``Task.at()`` announces that line under this
design, so every step of a per-VMA run names 6.12 (but the few port lines ``lines.KEPT`` keeps, each
with its reason).

Only the links are 6.12's: that shared path still does what the port's 6.1 code does.  6.12's
``pte_offset_map_lock()`` (since 6.5) re-reads the pmd, fails when the table is gone or became a
huge pmd and rechecks it under the PTE lock, page tables being freed after RCU; 6.1's, which the
model runs, trusts the pmd.  A verdict that depends on it (a collapse beside a fault that a mutant
let in) is 6.1's fault path under 6.12's locking.
"""

from ..task import Src

#: The tree every Src of this package resolves in (``Src.tree``).
TREE = "6.12"


def src(file: str, function: str, snippet: str, after: str = "") -> Src:
    """A line of Debian's linux-source-6.12."""
    return Src(file, function, snippet, after, tree=TREE)
