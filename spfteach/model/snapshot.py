"""The shared state in words, after a step: structured for pictures, flat for traces.

The stepper's state panel draws the VMAs, the page-table pages with their entries and locks,
the CPUs and the pages as tables; the text traces print what a step changed as
``vma0.vm_flags: rw- → r--``. Both come from one :class:`Snapshot`: its sections hold the values
by object (``snap.vmas[0]["vm_flags"]``), and it is also a read-only mapping from the flat keys
the traces print (``snap["vma0.vm_flags"]``), so a picture never parses a key back into its
parts and a diff never walks the sections by hand. :func:`vma_key` and its siblings name the
flat key of a section's value, in one place.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field


def vma_key(vma: int, name: str) -> str:
    """The flat key of field ``name`` of VMA ``vma``: ``vma0.vm_flags``."""
    return f"vma{vma}.{name}"


def pt_key(pt: int) -> str:
    """The flat key of a page-table page's level and life: ``pt3``."""
    return f"pt{pt}"


def entry_key(pt: int, idx: int) -> str:
    """The flat key of entry ``idx`` of page table ``pt``: ``pt3[256]``."""
    return f"pt{pt}[{idx}]"


def ptl_key(pt: int) -> str:
    """The flat key of the PTE lock of pte table ``pt``: ``ptl(pt3)``."""
    return f"ptl(pt{pt})"


@dataclass(frozen=True)
class PageTableRow:
    """One page-table page: its level, its life, its non-empty entries in words, and its PTE
    lock's holder (a pte table)."""

    level: str
    life: str
    entries: dict[int, str]
    ptl: str | None = None


@dataclass(frozen=True)
class Snapshot(Mapping[str, object]):
    """The shared state after a step (``Machine.snapshot()``), by section; as a mapping, the
    flat keys the traces print."""

    #: VMA id -> field -> value in words (``range``, ``vm_flags``, ``vm_sequence`` ...)
    vmas: dict[int, dict[str, object]] = field(default_factory=dict)
    #: the VMAs in the tree, in order (``vma0,vma1`` or ``empty``)
    tree: str = "empty"
    pts: dict[int, PageTableRow] = field(default_factory=dict)
    #: ``mmap_lock`` and ``page_table_lock``: who holds them, in words
    locks: dict[str, str] = field(default_factory=dict)
    #: CPU id -> IRQ flag and pending IPIs, in words
    cpus: dict[int, str] = field(default_factory=dict)
    rcu_readers: str = "none"
    pages: dict[int, str] = field(default_factory=dict)
    swap: dict[int, str] = field(default_factory=dict)
    policies: dict[int, str] = field(default_factory=dict)
    _flat: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        flat = self._flat
        for c, text in self.cpus.items():
            flat[f"cpu{c}"] = text
        flat.update(self.locks)
        flat["rcu_readers"] = self.rcu_readers
        flat["tree"] = self.tree
        for v, fields in self.vmas.items():
            for name, value in fields.items():
                flat[vma_key(v, name)] = value
        for p, row in self.pts.items():
            flat[pt_key(p)] = f"{row.level} {row.life}"
            for idx, text in row.entries.items():
                flat[entry_key(p, idx)] = text
            if row.ptl is not None:
                flat[ptl_key(p)] = row.ptl
        for pfn, text in self.pages.items():
            flat[f"page{pfn}"] = text
        for slot, text in self.swap.items():
            flat[f"swap{slot}"] = text
        for pol, text in self.policies.items():
            flat[f"pol{pol}"] = text

    def __getitem__(self, key: str) -> object:
        return self._flat[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._flat)

    def __len__(self) -> int:
        return len(self._flat)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self._flat) == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]
