"""The page-table walk drill (the OSTEP habit: ``--seed`` a problem, ``--solve`` it).

A seed gives a small process: a few VMAs and page tables holding every kind of
entry a walk can meet (present pages, an empty PTE, a swapped-out PTE, a
transparent huge page, an unpopulated region).  The student splits an address
into its index fields, follows the walk and works out the translation — or
what the fault handler would do when there is none.

Assumptions, in numbers: x86-64 4-level paging, 48-bit canonical user
addresses, 4 KiB pages, 512 entries per table, index fields 47..39 (pgd; the p4d
is folded into it), 38..30 (pud), 29..21 (pmd), 20..12 (pte), offset 11..0.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..model import pgtable
from ..model.machine import Machine, WalkLevel
from ..model.mm_types import VM_GROWSDOWN, VM_READ, VM_WRITE, flags_str
from ..model.pgtable import Entry, Kind


@dataclass(frozen=True)
class Outcome:
    """Where the walk ended and what it means."""

    stop: str  # level where the walk stopped ("pte" when it reached a page)
    physical: int | None  # the translation, when there is one
    meaning: str


def build_map(seed: int) -> Machine:
    """The seeded process.  Same seed, same map, on every machine."""
    rng = random.Random(seed)
    k = Machine(ncpus=1)
    heap = 0x555555000000 + rng.randrange(0, 64) * 0x200000
    mm_base = 0x7F0000000000 + rng.randrange(1, 128) * 0x40000000
    stack_top = 0x7FFFFFFFF000 - rng.randrange(0, 16) * 0x1000
    k.add_vma(heap, heap + 0x40000, VM_READ | VM_WRITE)  # 64 pages
    k.add_vma(mm_base, mm_base + 0x400000, VM_READ | VM_WRITE)  # 4 MiB: room for a THP
    k.add_vma(stack_top - 0x21000, stack_top, VM_READ | VM_WRITE | VM_GROWSDOWN)

    used: set[int] = set()

    def pfn() -> int:
        while True:
            n = rng.randrange(0x1000, 0x80000)
            if n not in used:
                used.add(n)
                return n

    # Heap: a handful of present pages, one swapped out, the rest empty.
    pages = rng.sample(range(64), 10)
    for i in pages[:9]:
        k.set_entry(heap + i * 0x1000, "pte",
                    Entry(Kind.PAGE, pfn(), write=rng.random() < 0.8, accessed=True,
                          dirty=rng.random() < 0.5))
    k.set_entry(heap + pages[9] * 0x1000, "pte", Entry(Kind.SWAP, rng.randrange(1, 4096)))
    # mmap region: the first 2 MiB is a transparent huge page, the second is
    # mapped with 4 KiB pages here and there.
    k.set_entry(mm_base, "pmd", Entry(Kind.HUGE, pfn() & ~0x1FF, write=True, accessed=True))
    for i in rng.sample(range(512), 4):
        k.set_entry(mm_base + 0x200000 + i * 0x1000, "pte", Entry(Kind.PAGE, pfn(), write=True,
                                                                   accessed=True))
    for i in range(3):
        k.set_entry(stack_top - 0x1000 * (i + 1), "pte",
                    Entry(Kind.PAGE, pfn(), write=True, accessed=True, dirty=True))
    return k


def mapped_pages(k: Machine) -> list[int]:
    """The start address of every page the tables map (4 KiB pages and huge pages),
    in address order: what the slider moves over."""
    out = []
    for pt in k.pt_pages.values():
        for idx, e in pt.entries.items():
            if e.kind in (Kind.PAGE, Kind.HUGE, Kind.DEVMAP):
                out.append(pt.address_of(idx))
    return sorted(set(out))


def random_address(seed: int, k: Machine) -> int:
    """An address worth asking about, drawn from the seed.

    Half the time a mapped 4 KiB page (the translation case); otherwise the huge
    page, the swapped-out page, an empty PTE in a VMA, or a hole between VMAs,
    so that every way a walk can end comes up.
    """
    rng = random.Random(seed * 7919 + 1)
    offset = rng.randrange(0, pgtable.PAGE_SIZE) // 8 * 8
    leaves = [(pt, idx, e) for pt in k.pt_pages.values() for idx, e in sorted(pt.entries.items())
              if e.kind is not Kind.TABLE]
    pages = [(pt, idx) for pt, idx, e in leaves if e.kind is Kind.PAGE]
    other = [(pt, idx) for pt, idx, e in leaves if e.kind is not Kind.PAGE]
    roll = rng.random()
    if roll < 0.5:
        pt, idx = rng.choice(pages)
        return pt.address_of(idx) + offset
    if roll < 0.75:
        pt, idx = rng.choice(other)
        span = 1 << pgtable.SHIFT[pt.level]
        return pt.address_of(idx) + rng.randrange(0, span) // 8 * 8
    if roll < 0.9:
        vma = k.mm.mmap[0]
        return vma.vm_start + rng.randrange(0, vma.vm_end - vma.vm_start) // 8 * 8
    return k.mm.mmap[0].vm_end + rng.randrange(1, 64) * pgtable.PAGE_SIZE + offset


def outcome(k: Machine, address: int, walk: list[WalkLevel]) -> Outcome:
    offset = address & (pgtable.PAGE_SIZE - 1)
    for lvl in walk:
        e = lvl.entry
        if lvl.folded or e is None:
            continue
        if e.kind is Kind.TABLE:
            continue
        if e.kind is Kind.NONE:
            vma = k.find_vma_at(address)
            if vma is None:
                what = "no VMA covers the address: the fault ends in SIGSEGV"
            elif lvl.level == "pte":
                what = (f"inside vma{vma.id} ({flags_str(vma.vm_flags)}): a fault, and "
                        "do_anonymous_page() maps a fresh page")
            else:
                what = (f"inside vma{vma.id}: a fault; the classic path allocates the missing "
                        f"tables (the speculative path gives up at {lvl.level}_none)")
            return Outcome(lvl.level, None, f"{lvl.level} entry is empty — {what}")
        if e.kind is Kind.HUGE:
            size_shift = pgtable.SHIFT[lvl.level]
            phys = (e.target << pgtable.PAGE_SHIFT) + (address & ((1 << size_shift) - 1))
            return Outcome(lvl.level, phys,
                           f"{lvl.level} maps a {1 << (size_shift - 20)} MiB huge page: "
                           f"offset is bits {size_shift - 1}..0")
        if e.kind is Kind.PAGE:
            phys = (e.target << pgtable.PAGE_SHIFT) | offset
            return Outcome("pte", phys, "present 4 KiB page")
        if e.kind is Kind.SWAP:
            return Outcome(lvl.level, None,
                           f"not present: swap entry (slot {e.target}); do_swap_page() "
                           "reads it back")
        return Outcome(lvl.level, None, f"{e.kind.value} entry")
    return Outcome("pte", None, "walk did not end")  # pragma: no cover


def render(seed: int, address: int, solve: bool) -> str:
    """The drill as text: map, fields, walk, and with ``solve`` the answer."""
    k = build_map(seed)
    pgtable.check_user_address(address)
    out = [f"Memory map (seed {seed}):"]
    for v in k.mm.mmap:
        out.append(f"  vma{v.id}  [{v.vm_start:#014x}, {v.vm_end:#014x})  {flags_str(v.vm_flags)}")
    out.append("")
    out.append(f"Address {address:#014x} = {address:048b}b (bits 47..0)")
    fields = pgtable.split_address(address)
    for lvl in pgtable.LEVELS:
        hi, lo = pgtable.field_bits(lvl)
        note = "  (p4d folded: same bits, same entry as pgd)" if lvl == "p4d" else ""
        out.append(f"  {lvl:<6} bits {hi:2}..{lo:<2} = {fields[lvl]:3}  "
                   f"({fields[lvl]:09b}b){note}")
    out.append(f"  offset bits 11..0  = {fields['offset']:#05x}")
    out.append("")
    out.append(f"Walk (entry flags: {pgtable.FLAGS_LEGEND}):")
    walk = k.walk(address)
    res = outcome(k, address, walk)
    for lvl in walk:
        if lvl.folded:
            out.append(f"  {lvl.level:<4} folded into the pgd: reuses pgd[{lvl.index}]")
            continue
        if lvl.table is None:
            out.append(f"  {lvl.level:<4} not reached")
            continue
        e = lvl.entry
        assert e is not None
        kind = e.kind.value
        stop = "" if e.kind is Kind.TABLE else "   <- the walk stops here"
        out.append(f"  {lvl.level:<4} table pt{lvl.table:<3} [{lvl.index:3}] = {str(e):<28} "
                   f"({kind}){stop}")
    out.append("")
    if solve:
        if res.physical is not None:
            out.append(f"Translation: {address:#x} -> physical {res.physical:#x} ({res.meaning})")
        else:
            out.append(f"Translation: none — {res.meaning}")
    else:
        out.append("Your turn: what does the address translate to — or what happens instead?")
        out.append(f"Check with: spfteach walk {address:#x} --seed {seed} --solve")
    return "\n".join(out)


def problem(seed: int, addresses: list[int]) -> str:
    """The exercise version of the drill: the map and every page table of the
    seeded process, and the addresses to translate, but no walk (walking is the
    exercise).  The pgd is ``pt0``; a ``table→ptN`` entry points to table N."""
    k = build_map(seed)
    out = [f"Memory map (seed {seed}):"]
    for v in k.mm.mmap:
        out.append(f"  vma{v.id}  [{v.vm_start:#014x}, {v.vm_end:#014x})  {flags_str(v.vm_flags)}")
    out.append("")
    out.append(f"Page tables (pt0 is the pgd; p4d folded; entry flags: {pgtable.FLAGS_LEGEND};"
               " an index not listed is none):")
    for pt in sorted(k.pt_pages.values(), key=lambda p: p.id):
        out.append(f"  pt{pt.id} ({pt.level} table)")
        for idx, e in sorted(pt.entries.items()):
            out.append(f"    [{idx:3}] {e}")
    out.append("")
    out.append("Translate (physical address, or None when there is no translation):")
    out.extend(f"  qs[{i}] = {a:#014x}" for i, a in enumerate(addresses))
    return "\n".join(out)
