"""The predict drill (spfteach/drills/predict.py), its command and its grader: three problems a
seed, ending three ways, the same on every run; constant and shifted guesses score a third at
most; the feedback is the run; no problem hands out a break-it answer."""

from __future__ import annotations

import subprocess
import sys

import pytest

from spfteach import grading
from spfteach.drills import predict
from spfteach.grading import exercises


@pytest.mark.parametrize("seed", [0, 1, 7, 1234])
def test_three_problems_end_three_ways(seed: int) -> None:
    ps = predict.problems(seed)
    assert ps == predict.problems(seed)  # deterministic
    outcomes = [predict.outcome(p) for p in ps]
    assert sorted(o.kind for o in outcomes) == sorted(predict.KINDS)
    for p, o in zip(ps, outcomes, strict=True):
        assert o.returns in predict.RETURNS
        if o.kind == "invariant":
            assert p.mutant is not None  # the port itself breaks nothing
        if o.kind == "completes":
            assert (o.first, o.returns) == ("completes", "0")


def test_a_mutant_does_not_give_the_ending_away() -> None:
    """Problems that complete or stop at a check have a mutant too, often enough."""
    kinds_with_mutant = {predict.outcome(p).kind for s in range(12) for p in predict.problems(s)
                         if p.mutant}
    assert kinds_with_mutant == set(predict.KINDS)


def test_no_problem_runs_a_break_it_mutant() -> None:
    assert not set(predict.MUTANTS) & set(exercises.BREAK_POOL)


def _right(sid: str) -> list[tuple[str, str]]:
    return [(predict.outcome(p).first, predict.outcome(p).returns)
            for p in exercises.predict_problems(sid)]


@pytest.mark.parametrize("sid", ["alice", "bob", "s3"])
def test_grading_right_half_right_and_held_out(sid: str) -> None:
    right = _right(sid)
    r = grading.grade_predict(sid, right)
    assert (r.points, r.max_points) == (6, 6), r.feedback
    # equivalent spellings: 0 or "0", case of the constants
    r = grading.grade_predict(sid, [(f.upper() if f == "completes" else f, r_.lower())
                                    for f, r_ in right])
    assert r.points == 6, r.feedback
    half = [(f, next(x for x in predict.RETURNS if x != r_)) for f, r_ in right]
    r = grading.grade_predict(sid, half)
    assert r.points == 3 and "half right" in r.feedback and "step through it: RaceStepper(" in (
        r.feedback)
    held_out = [[("completes", "0")] * 3, [("oops", "nothing")] * 3,
                [("spf_seq_retry", "VM_FAULT_RETRY")] * 3, right[1:] + right[:1],
                [("use-after-free", "VM_FAULT_RETRY")] * 3]
    for guess in held_out:
        r = grading.grade_predict(sid, guess)
        assert r.points <= 2, (guess, r.feedback)


def test_a_prediction_that_is_not_three_pairs_says_so() -> None:
    r = grading.grade_predict("alice", [("completes", "0")])
    assert r.points == 0 and "PREDICTIONS must list three pairs" in r.feedback


def test_the_command_prints_problems_and_solves_them() -> None:
    run = [sys.executable, "-m", "spfteach.cli", "predict", "--seed", "3"]
    r = subprocess.run(run, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.count("Problem ") == 3
    assert "fires first" not in r.stdout and "--solve" in r.stdout
    r = subprocess.run([*run, "--solve"], capture_output=True, text=True)
    assert r.returncode == 0
    assert r.stdout.count("handle_speculative_fault() returns") == 3
    r = subprocess.run([sys.executable, "-m", "spfteach.cli", "predict", "--seed", "x"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "is not a problem number" in r.stderr
    assert "Traceback" not in r.stderr
