"""``arch/x86/include/asm/mmu_context.h``: protection keys.

``arch_vma_access_permitted()`` asks whether the thread's PKRU register lets it
touch pages of the VMA's protection key.  The classic path asks it in
``access_error()``, the speculative path in ``handle_speculative_fault()``: the
MMU checks the key on every access, so a fault that maps a page the key denies
has not handled anything — the access faults again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .machine import Machine


def arch_vma_access_permitted(k: Machine, pkey: int, write: bool, execute: bool,
                              foreign: bool) -> bool:
    """x86: instruction fetches and foreign accesses are not checked against PKRU."""
    if execute or foreign:
        return True
    return pkey not in k.pkru_denied
