"""``make bench``'s grading table (spfteach/grading/bench.py): a small class graded end to end
both ways, the keys the issue asks for, per-submission figures that add up, the same scores with
and without the jail, and the baseline graded without bubblewrap.  It measures, it does not time:
the targets are judged by reading `make bench`'s output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from spfteach.grading import bench
from spfteach.grading.jail import Budget


def test_a_small_class_both_ways(tmp_path: Path) -> None:
    out = tmp_path / "grading-bench.json"
    r = subprocess.run([sys.executable, "-m", "spfteach.grading.bench", "--class-size", "3",
                        "--big-class", "2", "--out", str(out)], capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(out.read_text())
    assert got["class_size"] == 3 and got["same_scores"] is True
    assert list(got["assignments"]) == list(bench.ASSIGNMENTS)
    for row in got["assignments"].values():
        assert row["submissions"] == 3 and 0 < row["distinct"]
        assert row["jail_seconds_per_submission"] > 0 and row["baseline_seconds_per_submission"] > 0
        assert abs(row["ratio"] - row["jail_seconds_per_submission"]
                   / row["baseline_seconds_per_submission"]) < 0.02
    n = len(bench.ASSIGNMENTS)
    assert got["big_class"]["students"] == 2 and got["big_class"]["submissions"] == 2 * n
    printed = r.stdout
    assert "target: the jail costs at most 1.5x the baseline" in printed
    assert f"a class of 2 x {n} assignments ({2 * n} submissions" in printed


def test_the_class_has_right_wrong_and_copied_answers() -> None:
    """Half the students hand in the reference, the rest the usual mistakes; a third of the
    answers are word for word the same as another student's."""
    srcs = [bench.answers_for("seqcount", n)["seq-answer"] for n in range(30)]
    assert srcs.count(bench.SEQ[0]) == 5  # the reference, copied by every sixth student
    assert len(set(srcs)) < len(srcs)
    assert {s[s.index("def "):] for s in srcs} == set(bench.SEQ)  # every kind of answer
    assert all(bench.answers_for("walk", n)["walk-answer"].count("qs[") == 4 for n in range(6))


def test_the_baseline_runs_no_bubblewrap() -> None:
    """What the baseline leaves out is the jail and only the jail: the same glue, the same
    interpreter, the judge's own namespaces."""
    import os

    from spfteach.grading.baseline import Unconfined

    with Unconfined(budget=Budget(seconds=10)) as j:
        got = j.load("import os\nns = os.readlink('/proc/self/ns/user')\n", ["ns"])
        assert "bwrap" not in " ".join(j.argv(3, 4))
    assert got["ns"] == os.readlink("/proc/self/ns/user")

