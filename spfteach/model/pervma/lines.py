"""Where each step shared with the port runs in 6.12: the port's line -> 6.12's line.

Under per-VMA locks the steps of this package name lines of Debian's linux-source-6.12, but the
ordinary fault path and the writers' page-level work are the model's own (``spfteach.model``),
written against our 6.1 port: their ``Src`` name the port's lines.  :data:`LINES` gives, for each
such ``Src`` that a per-VMA run visits, the 6.12 line that does the same thing at that point of
the same work, and :meth:`spfteach.model.task.Task.at` announces that line instead when the
machine's design is ``"per-vma"`` (the SPF design's steps are left as they are).  Only the link
changes: what the step does is still the port's 6.1 code (6.12's ``pte_offset_map_lock()``
re-validates the pmd it maps; the model's, which is 6.1's, does not), so the C shown is 6.12's
line for the step the model takes.

Where 6.12 does the port's work on one line from two places (``pte_map_lock()`` is called for
the zero page and for a new page; 6.12 has a ``pte_offset_map_lock()`` in each branch),
:data:`BY_STEP_BEFORE` picks the line by the thread's step before it.  Where 6.12 has no line at
all for the step, :data:`KEPT` says why and the port's line stays: these are the only steps of a
per-VMA run that do not name 6.12 (held by ``tests/engine/test_pervma_lines.py`` and the kernel
tests in ``tests/kernel/test_src_snippets.py``).
"""

from __future__ import annotations

from ..task import Src
from . import src


def port(file: str, function: str, snippet: str, after: str = "") -> Src:
    """A line of our port (Debian's linux-source-6.1 with the SPF series)."""
    return Src(file, function, snippet, after)


MEMORY = "mm/memory.c"


def _same(file: str, function: str, snippet: str, after: str = "") -> tuple[Src, Src]:
    """A statement 6.12 still has, word for word, in the same function and at the same point."""
    return port(file, function, snippet, after), src(file, function, snippet, after)


#: Statements 6.12 kept as the port has them (file, function, snippet and anchor unchanged).
_SAME: tuple[tuple[Src, Src], ...] = (
    # the entry, under mmap_lock (lock_mmap:)
    _same("mm/memory.c", "lock_mm_and_find_vma", "if (!get_mmap_lock_carefully(mm, regs))"),
    _same("mm/memory.c", "lock_mm_and_find_vma", "vma = find_vma(mm, addr);",
          "get_mmap_lock_carefully(mm, regs)"),
    _same("mm/memory.c", "lock_mm_and_find_vma", "mmap_read_unlock(mm);"),
    # bad_area_access_error(..., mm, vma): __bad_area() drops mmap_lock when it got mm
    _same("arch/x86/mm/fault.c", "__bad_area", "mmap_read_unlock(mm);"),
    _same("arch/x86/mm/fault.c", "do_user_addr_fault", "mmap_read_unlock(mm);",
          "if (unlikely(fault & VM_FAULT_RETRY)) {"),
    # the walk
    _same(MEMORY, "__handle_mm_fault", "p4d = p4d_alloc(mm, pgd, address);"),
    _same(MEMORY, "__handle_mm_fault", "vmf.pud = pud_alloc(mm, p4d, address);"),
    _same(MEMORY, "__handle_mm_fault", "vmf.pmd = pmd_alloc(mm, vmf.pud, address);"),
    _same(MEMORY, "__handle_mm_fault", "huge_pud_set_accessed(&vmf, orig_pud);"),
    _same(MEMORY, "__handle_mm_fault", "huge_pmd_set_accessed(&vmf);"),
    _same(MEMORY, "__handle_mm_fault", "pmd_migration_entry_wait(mm, vmf.pmd);"),
    _same(MEMORY, "__p4d_alloc", "spin_lock(&mm->page_table_lock);"),
    _same(MEMORY, "__p4d_alloc", "pgd_populate(mm, pgd, new);"),
    _same(MEMORY, "__p4d_alloc", "spin_unlock(&mm->page_table_lock);"),
    _same(MEMORY, "__pud_alloc", "spin_lock(&mm->page_table_lock);"),
    _same(MEMORY, "__pud_alloc", "p4d_populate(mm, p4d, new);"),
    _same(MEMORY, "__pud_alloc", "spin_unlock(&mm->page_table_lock);"),
    _same(MEMORY, "__pmd_alloc", "ptl = pud_lock(mm, pud);"),
    _same(MEMORY, "__pmd_alloc", "pud_populate(mm, pud, new);"),
    _same(MEMORY, "__pmd_alloc", "spin_unlock(ptl);"),
    _same(MEMORY, "pmd_install", "spinlock_t *ptl = pmd_lock(mm, pmd);"),
    _same(MEMORY, "pmd_install", "pmd_populate(mm, pmd, *pte);"),
    _same(MEMORY, "pmd_install", "spin_unlock(ptl);"),
    # handle_pte_fault() on a present pte
    _same(MEMORY, "handle_pte_fault",
          "if (ptep_set_access_flags(vmf->vma, vmf->address, vmf->pte, entry,"),
    _same(MEMORY, "handle_pte_fault", "pte_unmap_unlock(vmf->pte, vmf->ptl);", "unlock:"),
    # do_anonymous_page()
    _same(MEMORY, "do_anonymous_page", "if (pte_alloc(vma->vm_mm, vmf->pmd))"),
    _same(MEMORY, "do_anonymous_page", "pte_unmap_unlock(vmf->pte, vmf->ptl);", "unlock:"),
    # __anon_vma_prepare(), called by __vmf_anon_prepare()
    _same("mm/rmap.c", "__anon_vma_prepare", "spin_lock(&mm->page_table_lock);"),
    _same("mm/rmap.c", "__anon_vma_prepare", "smp_store_release(&vma->anon_vma, anon_vma);"),
    _same("mm/rmap.c", "__anon_vma_prepare", "spin_unlock(&mm->page_table_lock);"),
    # a file fault
    _same(MEMORY, "__do_fault", "ret = vma->vm_ops->fault(vmf);"),
    _same(MEMORY, "finish_fault", "if (pmd_none(*vmf->pmd)) {"),
    _same(MEMORY, "finish_fault", "vmf->pte = pte_offset_map_lock(vma->vm_mm, vmf->pmd,"),
    # swap-in
    _same(MEMORY, "do_swap_page", "si = get_swap_device(entry);"),
    _same(MEMORY, "do_swap_page", "pte_unmap_unlock(vmf->pte, vmf->ptl);", "unlock:"),
    _same(MEMORY, "do_swap_page", "pte_unmap_unlock(vmf->pte, vmf->ptl);", "out_nomap:"),
    # copy-on-write
    _same(MEMORY, "wp_page_reuse",
          "if (ptep_set_access_flags(vma, vmf->address, vmf->pte, entry, 1))"),
    _same(MEMORY, "wp_page_reuse", "pte_unmap_unlock(vmf->pte, vmf->ptl);"),
    _same(MEMORY, "wp_page_copy",
          "vmf->pte = pte_offset_map_lock(mm, vmf->pmd, vmf->address, &vmf->ptl);"),
    # 6.12 unlocks in each branch; this anchor names the one where the pte changed
    # (BY_STEP_BEFORE has the other)
    _same(MEMORY, "wp_page_copy", "pte_unmap_unlock(vmf->pte, vmf->ptl);",
          "update_mmu_tlb(vma, vmf->address,"),
    # mempolicy
    _same("mm/mempolicy.c", "do_mbind", "mmap_write_lock(mm);"),
    _same("mm/mempolicy.c", "do_mbind", "mmap_write_unlock(mm);",
          "err = mbind_range(&vmi, vma, &prev,"),
    _same("mm/mempolicy.c", "vma_replace_policy", "new = mpol_dup(pol);"),
    _same("mm/mempolicy.c", "vma_replace_policy", "old = vma->vm_policy;"),
    _same("mm/mempolicy.c", "vma_replace_policy", "vma->vm_policy = new;"),
    _same("mm/mempolicy.c", "vma_replace_policy", "mpol_put(old);"),
    # the VMA lookup: 6.12's writers mostly walk with a VMA iterator, but find_vma() is
    # still the maple-tree lookup the model's find_vma() stands for
    _same("mm/mmap.c", "find_vma", "return mt_find(&mm->mm_mt, &index, ULONG_MAX);"),
    # mprotect()
    _same("mm/mprotect.c", "do_mprotect_pkey", "if (mmap_write_lock_killable(current->mm))"),
    _same("mm/mprotect.c", "do_mprotect_pkey", "tlb_finish_mmu(&tlb);"),
    _same("mm/mprotect.c", "do_mprotect_pkey", "mmap_write_unlock(current->mm);"),
    _same("mm/mmap.c", "vma_set_page_prot", "WRITE_ONCE(vma->vm_page_prot, vm_page_prot);"),
    _same("mm/mprotect.c", "change_pte_range",
          "pte = pte_offset_map_lock(vma->vm_mm, pmd, addr, &ptl);"),
    _same("mm/mprotect.c", "change_pte_range", "ptent = pte_modify(oldpte, newprot);"),
    _same("mm/mprotect.c", "change_pte_range", "pte_unmap_unlock(pte - 1, ptl);"),
    # mremap()
    _same("mm/mremap.c", "__do_sys_mremap", "if (mmap_write_lock_killable(current->mm))"),
    _same("mm/mremap.c", "__do_sys_mremap", "vma = vma_lookup(mm, addr);"),
    _same("mm/mremap.c", "__do_sys_mremap", "mmap_write_unlock(current->mm);"),
    _same("mm/mremap.c", "move_ptes", "old_pte = pte_offset_map_lock(mm,"),
    _same("mm/mremap.c", "move_ptes", "spin_lock_nested(new_ptl,"),
    _same("mm/mremap.c", "move_ptes", "pte = ptep_get_and_clear(mm, old_addr, old_pte);"),
    _same("mm/mremap.c", "move_ptes", "flush_tlb_range(vma, old_end - len, old_end);"),
    _same("mm/mremap.c", "move_ptes", "spin_unlock(new_ptl);"),
    _same("mm/mremap.c", "move_ptes", "pte_unmap_unlock(old_pte - 1,"),
    # unmapping: zap, free the tables, flush
    _same(MEMORY, "zap_pte_range", "tlb_flush_mmu_tlbonly(tlb);"),
    _same(MEMORY, "zap_pte_range", "pte_unmap_unlock(start_pte, ptl);"),
    _same(MEMORY, "free_pte_range", "pmd_clear(pmd);"),
    _same(MEMORY, "free_pmd_range", "pud_clear(pud);"),
    _same(MEMORY, "free_pud_range", "p4d_clear(p4d);"),
    _same("mm/mmu_gather.c", "tlb_flush_mmu", "tlb_flush_mmu_tlbonly(tlb);"),
    _same("mm/mmu_gather.c", "tlb_flush_mmu", "tlb_flush_mmu_free(tlb);"),
    _same("arch/x86/mm/tlb.c", "native_flush_tlb_multi", "on_each_cpu_cond_mask("),
    # madvise(MADV_DONTNEED)
    _same("mm/madvise.c", "do_madvise", "mmap_read_lock(mm);"),
    _same("mm/madvise.c", "do_madvise", "mmap_read_unlock(mm);"),
    # khugepaged
    _same("mm/khugepaged.c", "collapse_huge_page", "mmap_write_lock(mm);"),
    _same("mm/khugepaged.c", "collapse_huge_page",
          "result = hugepage_vma_revalidate(mm, address, true, &vma, cc);",
          "mmap_write_lock(mm);"),
    _same("mm/khugepaged.c", "collapse_huge_page", "pmd_ptl = pmd_lock(mm, pmd);"),
    _same("mm/khugepaged.c", "collapse_huge_page",
          "_pmd = pmdp_collapse_flush(vma, address, pmd);"),
    _same("mm/pgtable-generic.c", "pmdp_collapse_flush",
          "flush_tlb_range(vma, address, address + HPAGE_PMD_SIZE);"),
    _same("mm/khugepaged.c", "collapse_huge_page", "spin_unlock(pmd_ptl);",
          "_pmd = pmdp_collapse_flush("),
    _same("mm/khugepaged.c", "collapse_huge_page", "spin_unlock(pte_ptl);"),
    _same("mm/khugepaged.c", "collapse_huge_page", "spin_lock(pmd_ptl);",
          "_pmd = maybe_pmd_mkwrite("),
    _same("mm/khugepaged.c", "collapse_huge_page", "set_pmd_at(mm, address, pmd, _pmd);"),
    _same("mm/khugepaged.c", "collapse_huge_page", "spin_unlock(pmd_ptl);",
          "set_pmd_at(mm, address, pmd, _pmd);"),
    _same("mm/khugepaged.c", "collapse_huge_page", "mmap_write_unlock(mm);", "out_up_write:"),
    # UFFDIO_REGISTER
    _same("fs/userfaultfd.c", "userfaultfd_register", "mmap_write_lock(mm);"),
    _same("fs/userfaultfd.c", "userfaultfd_register", "mmap_write_unlock(mm);"),
)

#: Statements 6.12 writes differently, moved or folded into another function: the port's line,
#: then 6.12's line that does the same work at the same point.
_MOVED: tuple[tuple[Src, Src], ...] = (
    # the walk: 6.12 reads the pmd locklessly (pmdp_get_lockless())
    (port(MEMORY, "__handle_mm_fault", "vmf.orig_pmd = *vmf.pmd;"),
     src(MEMORY, "__handle_mm_fault", "vmf.orig_pmd = pmdp_get_lockless(vmf.pmd);")),
    # handle_pte_fault(): the pmd test is the first branch; the pte is read locklessly
    (port(MEMORY, "handle_pte_fault", "} else if (unlikely(pmd_none(*vmf->pmd))) {"),
     src(MEMORY, "handle_pte_fault", "if (unlikely(pmd_none(*vmf->pmd))) {")),
    (port(MEMORY, "handle_pte_fault", "vmf->orig_pte = *vmf->pte;"),
     src(MEMORY, "handle_pte_fault", "vmf->orig_pte = ptep_get_lockless(vmf->pte);")),
    # the port's pte_spinlock() is inline in 6.12's handle_pte_fault(); there
    # pte_offset_map_nolock() found vmf->ptl with the pte, so looking up the lock and taking
    # it are one line
    (port(MEMORY, "pte_spinlock", "vmf->ptl = pte_lockptr(vmf->vma->vm_mm, vmf->pmd);"),
     src(MEMORY, "handle_pte_fault", "spin_lock(vmf->ptl);")),
    (port(MEMORY, "pte_spinlock", "spin_lock(vmf->ptl);"),
     src(MEMORY, "handle_pte_fault", "spin_lock(vmf->ptl);")),
    (port(MEMORY, "handle_pte_fault", "if (unlikely(!pte_same(*vmf->pte, entry))) {"),
     src(MEMORY, "handle_pte_fault", "if (unlikely(!pte_same(ptep_get(vmf->pte), entry))) {")),
    # do_anonymous_page(): anon_vma through vmf_anon_prepare(), folios, set_ptes()
    (port("include/linux/rmap.h", "anon_vma_prepare", "if (likely(vma->anon_vma))"),
     src(MEMORY, "__vmf_anon_prepare", "if (likely(vma->anon_vma))")),
    (port(MEMORY, "do_anonymous_page",
          "page = alloc_zeroed_user_highpage_movable(vma, vmf->address);"),
     src(MEMORY, "do_anonymous_page", "folio = alloc_anon_folio(vmf);")),
    # the port's pte_map_lock() for a new page (BY_STEP_BEFORE: for the zero page)
    (port(MEMORY, "pte_map_lock", "vmf->pte = pte_offset_map_lock(vmf->vma->vm_mm, vmf->pmd,"),
     src(MEMORY, "do_anonymous_page",
         "vmf->pte = pte_offset_map_lock(vma->vm_mm, vmf->pmd, addr, &vmf->ptl);")),
    (port(MEMORY, "do_anonymous_page", "if (!pte_none(*vmf->pte)) {", "goto release_unlocked;"),
     src(MEMORY, "do_anonymous_page", "if (nr_pages == 1 && vmf_pte_changed(vmf)) {")),
    (port(MEMORY, "do_anonymous_page", "if (!pte_none(*vmf->pte)) {",
          "entry = pte_mkspecial(pfn_pte(my_zero_pfn("),
     src(MEMORY, "do_anonymous_page", "if (vmf_pte_changed(vmf)) {")),
    # the zero page's test, then the new page's (6.12 tests userfaultfd_missing() on both)
    (port(MEMORY, "do_anonymous_page", "if (userfaultfd_missing(vma)) {"),
     src(MEMORY, "do_anonymous_page", "if (userfaultfd_missing(vma)) {",
         "entry = pte_mkspecial(pfn_pte(my_zero_pfn(vmf->address),")),
    (port(MEMORY, "do_anonymous_page",
          "if (!(vmf->flags & FAULT_FLAG_SPECULATIVE) && userfaultfd_missing(vma)) {"),
     src(MEMORY, "do_anonymous_page", "if (userfaultfd_missing(vma)) {",
         "update_mmu_tlb_range(vma, addr, vmf->pte, nr_pages);")),
    (port(MEMORY, "do_anonymous_page", "page_add_new_anon_rmap(page, vma, vmf->address);"),
     src(MEMORY, "do_anonymous_page",
         "folio_add_new_anon_rmap(folio, vma, addr, RMAP_EXCLUSIVE);")),
    (port(MEMORY, "do_anonymous_page", "set_pte_at(vma->vm_mm, vmf->address, vmf->pte, entry);"),
     src(MEMORY, "do_anonymous_page", "set_ptes(vma->vm_mm, addr, vmf->pte, entry, nr_pages);")),
    (port(MEMORY, "do_anonymous_page", "put_page(page);", "release:"),
     src(MEMORY, "do_anonymous_page", "folio_put(folio);", "release:")),
    # the page's policy: get_vma_policy() in vma_alloc_folio_noprof(); pol->mode is read
    # where the page is allocated, policy_nodemask() in alloc_pages_mpol_noprof()
    (port("mm/mempolicy.c", "vma_alloc_folio", "pol = get_vma_policy(vma, addr);"),
     src("mm/mempolicy.c", "vma_alloc_folio_noprof",
         "pol = get_vma_policy(vma, addr, order, &ilx);")),
    (port("mm/mempolicy.c", "vma_alloc_folio", "if (pol->mode == MPOL_INTERLEAVE) {"),
     src("mm/mempolicy.c", "alloc_pages_mpol_noprof",
         "nodemask = policy_nodemask(gfp, pol, ilx, &nid);")),
    # handle_userfault(): release_fault_lock() drops mmap_lock or the VMA lock
    (port("fs/userfaultfd.c", "handle_userfault", "mmap_read_unlock(mm);"),
     src("fs/userfaultfd.c", "handle_userfault", "release_fault_lock(vmf);",
         "must_wait = userfaultfd_must_wait(ctx, vmf, reason);")),
    # finish_fault(): one pte, set_pte_range()
    (port(MEMORY, "finish_fault", "if (likely(!vmf_pte_changed(vmf))) {"),
     src(MEMORY, "finish_fault", "if (nr_pages == 1 && unlikely(vmf_pte_changed(vmf))) {")),
    (port(MEMORY, "finish_fault", "do_set_pte(vmf, page, vmf->address);"),
     src(MEMORY, "finish_fault", "set_pte_range(vmf, folio, page, nr_pages, addr);")),
    (port(MEMORY, "finish_fault", "pte_unmap_unlock(vmf->pte, vmf->ptl);"),
     src(MEMORY, "finish_fault", "pte_unmap_unlock(vmf->pte, vmf->ptl);", "unlock:")),
    # do_swap_page(): folios
    (port(MEMORY, "do_swap_page", "page = swapin_readahead(entry, GFP_HIGHUSER_MOVABLE,"),
     src(MEMORY, "do_swap_page", "folio = swapin_readahead(entry, GFP_HIGHUSER_MOVABLE,")),
    (port(MEMORY, "do_swap_page",
          "vmf->pte = pte_offset_map_lock(vma->vm_mm, vmf->pmd, vmf->address,",
          "cgroup_throttle_swaprate(page, GFP_KERNEL);"),
     src(MEMORY, "do_swap_page",
         "vmf->pte = pte_offset_map_lock(vma->vm_mm, vmf->pmd, vmf->address,",
         "folio_throttle_swaprate(folio, GFP_KERNEL);")),
    (port(MEMORY, "do_swap_page", "if (unlikely(!pte_same(*vmf->pte, vmf->orig_pte)))",
          "cgroup_throttle_swaprate(page, GFP_KERNEL);"),
     src(MEMORY, "do_swap_page",
         "if (unlikely(!vmf->pte || !pte_same(ptep_get(vmf->pte), vmf->orig_pte)))",
         "folio_throttle_swaprate(folio, GFP_KERNEL);")),
    (port(MEMORY, "do_swap_page", "swap_free(entry);"),
     src(MEMORY, "do_swap_page", "swap_free_nr(entry, nr_pages);")),
    (port(MEMORY, "do_swap_page", "page_add_anon_rmap(page, vma, vmf->address, rmap_flags);"),
     src(MEMORY, "do_swap_page", "folio_add_anon_rmap_ptes(folio, page, nr_pages, vma, address,")),
    (port(MEMORY, "do_swap_page", "set_pte_at(vma->vm_mm, vmf->address, vmf->pte, pte);"),
     src(MEMORY, "do_swap_page", "set_ptes(vma->vm_mm, address, ptep, pte, nr_pages);")),
    # copy-on-write: the unlock before wp_page_copy() follows folio_get() in 6.12
    (port(MEMORY, "do_wp_page", "pte_unmap_unlock(vmf->pte, vmf->ptl);",
          "return wp_pfn_shared(vmf);"),
     src(MEMORY, "do_wp_page", "pte_unmap_unlock(vmf->pte, vmf->ptl);", "folio_get(folio);")),
    (port(MEMORY, "wp_page_copy", "new_page = alloc_zeroed_user_highpage_movable(vma,"),
     src(MEMORY, "wp_page_copy",
         "new_folio = folio_prealloc(mm, vma, vmf->address, pfn_is_zero);")),
    (port(MEMORY, "wp_page_copy", "if (likely(pte_same(*vmf->pte, vmf->orig_pte))) {"),
     src(MEMORY, "wp_page_copy",
         "if (likely(vmf->pte && pte_same(ptep_get(vmf->pte), vmf->orig_pte))) {")),
    (port(MEMORY, "wp_page_copy", "page_add_new_anon_rmap(new_page, vma, vmf->address);"),
     src(MEMORY, "wp_page_copy",
         "folio_add_new_anon_rmap(new_folio, vma, vmf->address, RMAP_EXCLUSIVE);")),
    (port(MEMORY, "wp_page_copy", "set_pte_at_notify(mm, vmf->address, vmf->pte, entry);"),
     src(MEMORY, "wp_page_copy", "set_pte_at(mm, vmf->address, vmf->pte, entry);")),
    # zap_pte_range(): an anonymous page's pte is cleared in zap_present_folio_ptes() (6.12
    # clears a page-less pte, the zero page's, in zap_present_ptes())
    (port(MEMORY, "zap_pte_range", "start_pte = pte_offset_map_lock("),
     src(MEMORY, "zap_pte_range", "start_pte = pte = pte_offset_map_lock(mm, pmd, addr, &ptl);")),
    (port(MEMORY, "zap_pte_range", "ptent = ptep_get_and_clear_full(mm, addr, pte,"),
     src(MEMORY, "zap_present_folio_ptes", "clear_full_ptes(mm, addr, pte, nr, tlb->fullmm);",
         "} else {")),
    # mprotect(): a VMA iterator; vm_flags_reset() (which asserts the VMA is write-locked)
    (port("mm/mprotect.c", "do_mprotect_pkey", "vma = mas_find(&mas, ULONG_MAX);"),
     src("mm/mprotect.c", "do_mprotect_pkey", "vma = vma_find(&vmi, end);")),
    (port("mm/mprotect.c", "mprotect_fixup", "vma->vm_flags = newflags;"),
     src("mm/mprotect.c", "mprotect_fixup", "vm_flags_reset(vma, newflags);")),
    # a split is mm/vma.c's __split_vma(): the port's __vma_adjust() work is inline, and
    # vma_complete() stores the new VMA
    (port("mm/mmap.c", "__split_vma", "new = vm_area_dup(vma);"),
     src("mm/vma.c", "__split_vma", "new = vm_area_dup(vma);")),
    (port("mm/mmap.c", "__vma_adjust", "vma->vm_start = start;"),
     src("mm/vma.c", "__split_vma", "vma->vm_start = addr;")),
    (port("mm/mmap.c", "__vma_adjust", "vma->vm_pgoff = pgoff;"),
     src("mm/vma.c", "__split_vma", "vma->vm_pgoff += (addr - new->vm_start) >> PAGE_SHIFT;")),
    (port("mm/mmap.c", "__vma_adjust", "vma_mas_store(insert, &mas);"),
     src("mm/vma.c", "vma_complete", "vma_iter_store(vmi, vp->insert);")),
    # mremap(): copy_vma() is in mm/vma.c
    (port("mm/mmap.c", "copy_vma", "new_vma = vm_area_dup(vma);"),
     src("mm/vma.c", "copy_vma", "new_vma = vm_area_dup(vma);")),
    (port("mm/mmap.c", "copy_vma", "if (vma_link(mm, new_vma))"),
     src("mm/vma.c", "copy_vma", "if (vma_link(mm, new_vma))")),
    # khugepaged: pte_offset_map_lock() takes pte_ptl; folios
    (port("mm/khugepaged.c", "collapse_huge_page", "spin_lock(pte_ptl);"),
     src("mm/khugepaged.c", "collapse_huge_page",
         "pte = pte_offset_map_lock(mm, &_pmd, address, &pte_ptl);")),
    (port("mm/khugepaged.c", "collapse_huge_page",
          "result =  __collapse_huge_page_isolate(vma, address, pte, cc,"),
     src("mm/khugepaged.c", "collapse_huge_page",
         "result = __collapse_huge_page_isolate(vma, address, pte, cc,")),
    (port("mm/khugepaged.c", "collapse_huge_page", "page_add_new_anon_rmap(hpage, vma, address);"),
     src("mm/khugepaged.c", "collapse_huge_page",
         "folio_add_new_anon_rmap(folio, vma, address, RMAP_EXCLUSIVE);")),
    # UFFDIO_REGISTER: userfaultfd_set_vm_flags() moved to mm/userfaultfd.c
    (port("fs/userfaultfd.c", "userfaultfd_set_vm_flags", "vma->vm_flags = flags;"),
     src("mm/userfaultfd.c", "userfaultfd_set_vm_flags", "vm_flags_reset(vma, flags);")),
)

#: The port's line -> 6.12's line, for every port step a per-VMA run takes (but :data:`KEPT`).
LINES: dict[Src, Src] = dict(_SAME + _MOVED)

#: Port lines whose 6.12 line depends on where the thread comes from: the port's line ->
#: {the step before it, as announced -> 6.12's line}; otherwise :data:`LINES` has it.
BY_STEP_BEFORE: dict[Src, dict[Src, Src]] = {
    # the zero page: do_anonymous_page() maps and locks the pte in the read branch
    port(MEMORY, "pte_map_lock", "vmf->pte = pte_offset_map_lock(vmf->vma->vm_mm, vmf->pmd,"): {
        port(MEMORY, "do_anonymous_page", "if (unlikely(pmd_trans_unstable(vmf->pmd)))"):
            src(MEMORY, "do_anonymous_page", "vmf->pte = pte_offset_map_lock(vma->vm_mm, vmf->pmd,",
                "entry = pte_mkspecial(pfn_pte(my_zero_pfn(vmf->address),")},
    # the copy went in: 6.12 unlocks at the end of the success branch
    port(MEMORY, "wp_page_copy", "pte_unmap_unlock(vmf->pte, vmf->ptl);",
         "update_mmu_tlb(vma, vmf->address,"): {
        src(MEMORY, "wp_page_copy", "set_pte_at(mm, vmf->address, vmf->pte, entry);"):
            src(MEMORY, "wp_page_copy", "pte_unmap_unlock(vmf->pte, vmf->ptl);",
                "page_copied = 1;")},
}

#: Port lines a per-VMA run keeps, for want of a 6.12 line at that point: why.
KEPT: dict[Src, str] = {
    port(MEMORY, "do_anonymous_page", "if (unlikely(pmd_trans_unstable(vmf->pmd)))"):
        "6.12 tests no pmd after pte_alloc(): pte_offset_map_lock() returns NULL on a pmd "
        "that is no page table, later in the function",
}


def line_612(port_src: Src, before: Src | None) -> Src:
    """The line a per-VMA run announces for ``port_src`` (the port's line), ``before`` being the
    thread's step before it: 6.12's line, or ``port_src`` itself where :data:`KEPT` keeps it
    (and for a Src the tables do not know: the tests hold every step to name 6.12)."""
    alt = BY_STEP_BEFORE.get(port_src)
    if alt is not None and before in alt:
        return alt[before]
    return LINES.get(port_src, port_src)
