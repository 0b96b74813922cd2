"""Where each writer of the model write-locks its VMA in 6.12.

The model's writers (``mprotect()``, ``munmap()``, ``mremap()``, ``mbind()``, khugepaged,
``UFFDIO_REGISTER``) open a VMA write section where our port changes a VMA; 6.12 calls
``vma_start_write()`` at the same point of the same work.  :data:`SITES` maps each section (by
the port's function) to 6.12's line, or to None where 6.12 takes no VMA lock:
``__anon_vma_prepare()`` sets ``vma->anon_vma`` under ``page_table_lock`` with ``mmap_lock``
held (for reading, or tried by ``__vmf_anon_prepare()``), and a fault under the VMA lock reads
``anon_vma`` once, under the PTE lock, through ``folio_add_new_anon_rmap()``.
"""

from __future__ import annotations

from ..bug import NotModelled
from ..mm_types import VmAreaStruct
from ..task import Gen, Src, Task
from . import src
from .mm import vma_start_write

#: the port's write section (its function) -> 6.12's ``vma_start_write()`` there
SITES: dict[str, Src | None] = {
    "mprotect_fixup": src("mm/mprotect.c", "mprotect_fixup", "vma_start_write(vma);"),
    "__vma_adjust": src("mm/vma.c", "__split_vma", "vma_start_write(vma);"),
    "copy_vma": src("mm/vma.c", "vma_link", "vma_start_write(vma);"),
    "move_vma": src("mm/mremap.c", "move_vma", "vma_start_write(vma);"),
    "collapse_huge_page": src("mm/khugepaged.c", "collapse_huge_page", "vma_start_write(vma);"),
    # mbind(): queue_pages_range(..., MPOL_MF_WRLOCK) write-locks each VMA it walks
    "vma_replace_policy": src("mm/pagewalk.c", "process_vma_walk_lock", "vma_start_write(vma);"),
    "userfaultfd_set_vm_flags": src("mm/userfaultfd.c", "userfaultfd_set_ctx",
                                    "vma_start_write(vma);"),
    "__anon_vma_prepare": None,
}


def start_write(t: Task, vma: VmAreaStruct, section: Src) -> Gen:
    """The port's ``vm_write_begin()`` at ``section``, in 6.12: ``vma_start_write()``."""
    try:
        call = SITES[section.function]
    except KeyError:
        raise NotModelled(f"{section.function}() opens a VMA write section that "
                         "spfteach/model/pervma/writers.py does not place in 6.12: add it to "
                         "SITES") from None
    if call is None:
        return
    yield from vma_start_write(t, vma, call)
