"""The rebuild of issue 24 leaves the model's behaviour exactly as it was (tests/golden.py):
every scenario's in-order runs and every recorded counterexample take the same steps on the same
lines of C, end with the same results and break the same invariants. (The mutant matrix is held
the same way by tests/engine/test_explore.py::test_every_mutant_is_caught_or_explained.)"""

from __future__ import annotations

import pytest

from tests import golden

RECORDED = golden.load()


def test_the_golden_file_covers_every_scenario() -> None:
    from spfteach.scenarios import SCENARIOS

    assert {k.split()[0] for k in RECORDED["runs"]} == set(SCENARIOS)


@pytest.fixture(scope="module")
def today() -> dict[str, dict]:
    return golden.runs()


@pytest.mark.parametrize("name", sorted(RECORDED["runs"]))
def test_run_is_as_recorded(name: str, today: dict[str, dict]) -> None:
    was, now = RECORDED["runs"][name], today.get(name)
    assert now is not None, f"{name}: no longer a run of today's model"
    for i, (a, b) in enumerate(zip(was["steps"], now["steps"], strict=False)):
        assert a == b, f"{name}: step {i} was {a}, is {b}"
    assert len(was["steps"]) == len(now["steps"]), name
    assert (was["results"], was["violations"]) == (now["results"], now["violations"]), name
