"""The notebooks' self-check: right, wrong (with the answer), not answered yet."""

from __future__ import annotations

from spfteach.widgets.selfcheck import check


def test_right_wrong_and_unanswered(capsys) -> None:
    assert check("Q1", "0X7F001", 0x7F001, "the pte entry's frame plus the offset", show=hex)
    assert not check("Q2", 3, 4, "four levels")
    assert not check("Q3", ..., 4, "four levels")
    out = capsys.readouterr().out.splitlines()
    assert out == ["Q1: right. the pte entry's frame plus the offset",
                   "Q2: wrong, the answer is 4. four levels",
                   "Q3: not answered yet (set it in the cell above, then run this one again)"]


def test_strings_compare_loosely(capsys) -> None:
    assert check("Q", " `Maplock_VMA_Changed` ", "maplock_vma_changed", "why")
    assert not check("Q", "maplock", "maplock_vma_changed", "why")
    assert capsys.readouterr().out.count("\n") == 2
