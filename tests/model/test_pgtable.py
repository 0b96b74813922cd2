"""Address split and walks, with the indices worked out by hand."""

from __future__ import annotations

import pytest

from spfteach.drills.walk import build_map, outcome, random_address, render
from spfteach.model import pgtable
from spfteach.model.machine import Machine
from spfteach.model.mm_types import VM_READ, VM_WRITE
from spfteach.model.pgtable import AddressError, Entry, Kind

# address -> (pgd, pud, pmd, pte, offset), computed by hand:
#   0x7f0000001234: bits 47..39 = 0x7f0000001234 >> 39 = 0xfe = 254; bits 38..0 =
#   0x1234 -> pud 0, pmd 0, pte 1, offset 0x234.
#   0x00007fffffffefff: all of 47..13 set except bit 12 -> pgd 255, pud 511, pmd 511,
#   pte 510, offset 0xfff.
#   0x0000555555554abc: 0x555555554abc = 0b0101_0101_0101_0101 0101 0101 0101 0101 0100
#   1010 1011 1100 -> pgd 0b010101010 = 170, pud 0b101010101 = 341, pmd 0b010101010
#   = 170, pte 0b101010100 = 340, offset 0xabc.
#   0x40201000: bit 30 -> pud 1, bit 21 -> pmd 1, bit 12 -> pte 1.
HAND = {
    0x7F0000001234: (254, 0, 0, 1, 0x234),
    0x00007FFFFFFFEFFF: (255, 511, 511, 510, 0xFFF),
    0x0000555555554ABC: (170, 341, 170, 340, 0xABC),
    0x40201000: (0, 1, 1, 1, 0),
    0x0: (0, 0, 0, 0, 0),
}


@pytest.mark.parametrize("address", sorted(HAND))
def test_split_by_hand(address: int) -> None:
    pgd, pud, pmd, pte, off = HAND[address]
    f = pgtable.split_address(address)
    assert (f["pgd"], f["pud"], f["pmd"], f["pte"], f["offset"]) == (pgd, pud, pmd, pte, off)
    assert f["p4d"] == f["pgd"]  # folded: same bits, same entry


def test_la57_split() -> None:
    # with 5 levels the pgd index is bits 56..48 and p4d takes 47..39
    addr = (3 << 48) | (254 << 39) | 0x1000
    f = pgtable.split_address(addr, la57=True)
    assert (f["pgd"], f["p4d"], f["pte"]) == (3, 254, 1)
    pgtable.check_user_address(addr, la57=True)
    with pytest.raises(AddressError):
        pgtable.check_user_address(addr)  # not canonical with 48 bits


@pytest.mark.parametrize("bad,msg", [
    (0x0000800000000000, "not canonical"),
    (0x1234567812345678, "not canonical"),
    (0xFFFF800000000000, "kernel address"),
    (-1, "not a 64-bit value"),
    (1 << 64, "not a 64-bit value"),
])
def test_bad_addresses(bad: int, msg: str) -> None:
    with pytest.raises(AddressError, match=msg):
        pgtable.check_user_address(bad)


def test_walk_levels_and_stop() -> None:
    k = Machine(ncpus=1)
    k.add_vma(0x7F0000000000, 0x7F0000400000, VM_READ | VM_WRITE)
    k.populate(0x7F0000001000)
    k.set_entry(0x7F0000200000, "pmd", Entry(Kind.HUGE, 0x1200, write=True))
    w = k.walk(0x7F0000001234)
    assert [lvl.level for lvl in w] == ["pgd", "p4d", "pud", "pmd", "pte"]
    assert [lvl.index for lvl in w] == [254, 254, 0, 0, 1]
    assert w[1].folded and w[1].entry == w[0].entry
    assert w[4].entry.kind is Kind.PAGE
    # the huge page stops the walk at the pmd; the pte level is not reached
    w = k.walk(0x7F0000201234)
    assert w[3].entry.kind is Kind.HUGE and w[4].table is None
    o = outcome(k, 0x7F0000201234, w)
    assert o.stop == "pmd" and o.physical == (0x1200 << 12) + 0x1234
    # an empty pte in the VMA: a fault, handled by do_anonymous_page
    o = outcome(k, 0x7F0000002000, k.walk(0x7F0000002000))
    assert o.physical is None and "do_anonymous_page" in o.meaning


def test_drill_is_seeded_and_solvable() -> None:
    a = render(3, random_address(3, build_map(3)), solve=True)
    b = render(3, random_address(3, build_map(3)), solve=True)
    assert a == b
    assert render(4, 0x7F0000001234, True) != render(5, 0x7F0000001234, True)
    unsolved = render(3, 0x7F0000001234, solve=False)
    assert "Translation" not in unsolved and "--solve" in unsolved
    assert "pgd    bits 47..39 = 254" in unsolved
    assert "Translation:" in render(3, 0x7F0000001234, solve=True)


def test_drill_every_seed_translates_its_present_pages() -> None:
    """For a present page the drill's translation is pfn * 4096 + offset."""
    for seed in range(20):
        k = build_map(seed)
        for pt in k.pt_pages.values():
            if pt.level != "pte":
                continue
            for idx, e in pt.entries.items():
                if e.kind is Kind.PAGE:
                    va = pt.address_of(idx) + 0x123
                    o = outcome(k, va, k.walk(va))
                    assert o.physical == (e.target << 12) + 0x123
