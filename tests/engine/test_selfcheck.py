"""The notebooks' self-check: it asks before it tells (a hint, never the answer; the answer on
request), and takes an answer in any of its equivalent forms."""

from __future__ import annotations

import pytest

from spfteach.drills import selfcheck
from spfteach.drills.selfcheck import check, reveal, same


def test_right_wrong_unanswered_and_reveal(capsys: pytest.CaptureFixture[str]) -> None:
    assert check("Q1", "0X7F001", 0x7F001, "the pte entry's frame plus the offset", show=hex)
    assert not check("Q2", 3, 4, "four levels", hint="count pgd, pud, pmd, pte")
    assert not check("Q2", 5, 4, "four levels", hint="count pgd, pud, pmd, pte")
    assert not check("Q3", ..., 4, "four levels")
    reveal("Q2")
    reveal("Q9")
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "Q1: right. the pte entry's frame plus the offset",
        "Q2: not yet. count pgd, pud, pmd, pte",
        'Q2: not yet. count pgd, pud, pmd, pte (to see the answer: reveal("Q2"), from '
        "spfteach.drills.selfcheck)",
        "Q3: not answered yet (set it in the cell above, then run this one again)",
        "Q2: the answer is 4. four levels",
        "Q9: run its check first, then ask"]


@pytest.mark.parametrize(("answer", "expected"), [
    (" `Maplock_VMA_Changed` ", "maplock_vma_changed"),
    ("mmap_lock", "mmap_sem"), ("MMAP_SEM", "mmap_sem"),
    ("4.3", 4.3), ("4.3x", 4.3), (4.27, 4.3), ("99.6%", 99.6), ("4.30", 4.3),
    ("1,1,1,1,1,0*", "1*5,0*"), ("1*2, 1*3, 0*", "1*5,0*"),
    ("0x1f", 31), ("31", 31),
    ("pte_map_lock_speculative", "maplock_vma_changed"), ("pte_map_lock()", "maplock_trylock"),
    ("handle_pte_fault", "hpf_vma_changed"),
])
def test_equivalent_forms_are_the_same_answer(answer: object, expected: object) -> None:
    assert same(answer, expected)


@pytest.mark.parametrize(("answer", "expected"), [
    ("maplock", "maplock_vma_changed"), ("4.4", 4.3), (4.36, 4.3), ("1*4,0*", "1*5,0*"),
    ("handle_speculative_fault", "hpf_vma_changed"), ("32", 31), (True, 1), ("yes", "no"),
])
def test_other_answers_are_not(answer: object, expected: object) -> None:
    assert not same(answer, expected)


def test_the_asked_questions_are_kept_for_reveal() -> None:
    check("Qk", 1, 2, "why", hint="a hint")
    assert selfcheck._asked["Qk"][0] == 2 and selfcheck._asked["Qk"][3] == "a hint"
