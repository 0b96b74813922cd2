"""x86-64 page tables: address split, entry kinds, page-table pages with a life.

Mirrors ``arch/x86/include/asm/pgtable*.h`` and ``include/linux/pgtable.h``.
Four-level paging is the default: the p4d level is *folded* into the pgd, as
the kernel does when ``CONFIG_X86_5LEVEL`` is off — ``p4d_offset()`` returns the
pgd entry itself and ``pgd_none()``/``pgd_bad()`` are constant 0.  The model
still shows the p4d step so that students see all five names.  Five-level paging
(LA57) is available so that the seed's pgd checks can actually fire.

Page-table *pages* are objects with a life (allocated → linked → unlinked →
freed) because the speculative walk's whole danger is reading one that a
concurrent ``munmap()`` has freed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from . import footprint as fp
from .errors import UsageError
from .record import recorded
from .state import ident
from .state import state as _state

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PTRS_PER_TABLE = 512

#: Level names, top to bottom.
LEVELS = ("pgd", "p4d", "pud", "pmd", "pte")

#: Low bit of the index field of each level (4-level paging; the pgd index of
#: LA57 starts at bit 48).
SHIFT = {"pgd": 39, "p4d": 39, "pud": 30, "pmd": 21, "pte": 12}
SHIFT_LA57 = {"pgd": 48, "p4d": 39, "pud": 30, "pmd": 21, "pte": 12}

#: Size mapped by one entry of each level.
HPAGE_PMD_SIZE = 1 << SHIFT["pmd"]
HPAGE_PUD_SIZE = 1 << SHIFT["pud"]


class AddressError(UsageError, ValueError):
    """A virtual address the MMU would never translate (shown to the user)."""


def canonical_bits(la57: bool) -> int:
    """Number of significant virtual-address bits: 48, or 57 with LA57."""
    return 57 if la57 else 48


def check_user_address(address: int, la57: bool = False) -> None:
    """Reject addresses that are negative, non-canonical or in the kernel half.

    A non-canonical address (bits 63..47 not all equal) raises #GP on x86-64,
    never a page fault, so there is no walk to show for it.
    """
    bits = canonical_bits(la57)
    if address < 0 or address >= 1 << 64:
        raise AddressError(f"address {address:#x} is not a 64-bit value")
    top = address >> (bits - 1)
    if top not in (0, (1 << (64 - bits + 1)) - 1):
        raise AddressError(
            f"address {address:#x} is not canonical: bits 63..{bits - 1} must all be equal "
            f"(user addresses are below {1 << (bits - 1):#x})"
        )
    if top != 0:
        raise AddressError(f"address {address:#x} is a kernel address; user faults only")


def index(level: str, address: int, la57: bool = False) -> int:
    """The 9-bit index of ``address`` in a table of ``level`` (``pgd_index()`` etc.)."""
    shift = (SHIFT_LA57 if la57 else SHIFT)[level]
    return (address >> shift) & (PTRS_PER_TABLE - 1)


def split_address(address: int, la57: bool = False) -> dict[str, int]:
    """All index fields of ``address`` plus the page offset (bits 11..0)."""
    fields = {lvl: index(lvl, address, la57) for lvl in LEVELS}
    fields["offset"] = address & (PAGE_SIZE - 1)
    return fields


def field_bits(level: str, la57: bool = False) -> tuple[int, int]:
    """(high, low) bit numbers of a level's index field, for display."""
    shift = (SHIFT_LA57 if la57 else SHIFT)[level]
    return shift + 8, shift


class Kind(str, Enum):
    """What an entry of a page-table page holds."""

    NONE = "none"  # empty: pXd_none()
    TABLE = "table"  # points to the next-level page-table page
    PAGE = "page"  # a present 4 KiB page (pte level only)
    HUGE = "huge"  # a huge / trans-huge leaf at pud or pmd level
    DEVMAP = "devmap"  # a device (ZONE_DEVICE) huge mapping: pmd_devmap()
    SWAP = "swap"  # not present, holds a swap/migration entry
    BAD = "bad"  # corrupt entry: pXd_bad()


@dataclass(frozen=True)
class Entry:
    """One page-table entry.  Immutable, so a reader's saved copy (``orig_pmd``,
    ``orig_pte``) is a real snapshot and ``pmd_same()`` is plain equality."""

    kind: Kind = Kind.NONE
    target: int = 0  # id of the next table page, or page frame number
    write: bool = False
    user: bool = True
    accessed: bool = False
    dirty: bool = False
    special: bool = False  # pte_special(): the zero page, no struct page refcount

    def with_(self, **changes: object) -> Entry:
        """The same entry with some bits changed (``pte_mkyoung()``, ``pte_mkdirty()``...)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def __str__(self) -> str:
        if self.kind is Kind.NONE:
            return "none"
        if self.kind is Kind.TABLE:
            return f"table→pt{self.target}"
        if self.kind in (Kind.PAGE, Kind.HUGE, Kind.DEVMAP):
            flags = "".join(
                c if on else "-"
                for c, on in (
                    ("W", self.write),
                    ("A", self.accessed),
                    ("D", self.dirty),
                    ("S", self.special),
                )
            )
            return f"{self.kind.value} pfn={self.target:#x} {flags}"
        if self.kind is Kind.SWAP:
            return f"swap entry {self.target}"
        return self.kind.value


#: What the letters of a present entry mean (printed beside traces on first use).
FLAGS_LEGEND = "W writable, A accessed, D dirty, S special (the zero page); - not set"


NONE = Entry()


class PtState(str, Enum):
    """Life of a page-table page."""

    ALLOCATED = "allocated"  # pte_alloc_one(): not yet visible
    LINKED = "linked"  # pmd_populate(): reachable from the tree
    #: taken out of the tree by khugepaged, which still reads it under its lock
    COLLAPSING = "collapsing"
    UNLINKED = "unlinked"  # pmd_clear() in free_pgtables(): unreachable, not yet freed
    FREED = "freed"  # after the RCU/IPI sync: memory may be reused


@recorded(fp.pt)
@dataclass
class PageTablePage:
    """A 4 KiB page holding 512 entries of one level, with its split PTL.

    Only non-empty entries are stored.  ``ptl`` is the split page-table lock
    (``pte_lockptr()``), meaningful on pte pages.
    """

    id: int = ident()
    level: str = ident()
    base: int = ident(default=0)  # lowest virtual address the table maps
    state: PtState = _state(default=PtState.ALLOCATED)
    entries: dict[int, Entry] = _state(default_factory=dict)

    @property
    def span(self) -> int:
        """Bytes of address space one table of this level maps."""
        return 1 << (SHIFT[self.level] + 9)

    def address_of(self, idx: int) -> int:
        return self.base + (idx << SHIFT[self.level])

    def get(self, idx: int) -> Entry:
        return self.entries.get(idx, NONE)

    def set(self, idx: int, entry: Entry) -> None:
        if entry.kind is Kind.NONE:
            self.entries.pop(idx, None)
        else:
            self.entries[idx] = entry

    def snapshot(self) -> tuple:
        return (self.id, self.level, self.state.value, tuple(sorted(self.entries.items())))


# --- entry predicates, named as in the kernel ------------------------------


def pgd_none(e: Entry, folded: bool) -> bool:
    """With p4d folded the pgd entry *is* the p4d entry: the kernel's
    ``pgd_none()`` is constant 0 and the real test happens at the p4d step."""
    return False if folded else e.kind is Kind.NONE


def pgd_bad(e: Entry, folded: bool) -> bool:
    return False if folded else e.kind is not Kind.NONE and e.kind is not Kind.TABLE


def p4d_none(e: Entry) -> bool:
    return e.kind is Kind.NONE


def p4d_bad(e: Entry) -> bool:
    return e.kind is not Kind.NONE and e.kind is not Kind.TABLE


def pud_none(e: Entry) -> bool:
    return e.kind is Kind.NONE


def pud_bad(e: Entry) -> bool:
    """x86's ``pud_bad()``: any flag beyond those of a table pointer.  A huge pud
    has ``_PAGE_PSE`` set, so on x86 it *is* bad: the walk refuses it here and
    never reaches ``pud_trans_huge()``."""
    return e.kind is not Kind.NONE and e.kind is not Kind.TABLE


def pud_trans_huge(e: Entry) -> bool:
    return e.kind is Kind.HUGE


def pmd_none(e: Entry) -> bool:
    return e.kind is Kind.NONE


def pmd_devmap(e: Entry) -> bool:
    return e.kind is Kind.DEVMAP


def pmd_trans_huge(e: Entry) -> bool:
    return e.kind is Kind.HUGE


def is_swap_pmd(e: Entry) -> bool:
    return e.kind is Kind.SWAP


def pmd_same(a: Entry, b: Entry) -> bool:
    return a == b


def pte_none(e: Entry) -> bool:
    return e.kind is Kind.NONE


def pte_present(e: Entry) -> bool:
    return e.kind is Kind.PAGE


def pte_write(e: Entry) -> bool:
    return e.write


def pte_same(a: Entry, b: Entry) -> bool:
    return a == b
