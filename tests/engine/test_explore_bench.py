"""``make bench``'s explorer table: the keys the issue asks for, totals that add
up, the three searches run on the same scenarios (on two cheap scenarios here)."""

from __future__ import annotations

import pytest

from spfteach.explore import bench
from spfteach.scenarios import SCENARIOS


def test_bench_rows_and_totals(monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    few = {n: SCENARIOS[n] for n in ("quiet", "seq-odd-at-start")}
    monkeypatch.setattr(bench, "SCENARIOS", few)
    out = bench.bench(memory=True)
    rows = out["rows"]
    assert [r["scenario"] for r in rows] == list(few)
    for r in rows:
        for key in ("threads", "states", "seconds", "baseline_seconds", "peak_kib",
                    "baseline_peak_kib", "same_verdicts", "sleep_sets_seconds", "cached_steps"):
            assert key in r, key
        assert r["threads"] == len(SCENARIOS[r["scenario"]].threads)
        assert r["same_verdicts"] is True
        # here the same states: sleep sets alone keep every state; with the local-first
        # rule they may skip a few where a local step is pending (not in these two)
        assert r["states"] == r["baseline_states"] > 0
        assert r["transitions"] <= r["sleep_sets_transitions"] <= r["baseline_transitions"]
        assert r["peak_kib"] > 0 and r["baseline_peak_kib"] > 0
    assert out["total_seconds"] == pytest.approx(sum(r["seconds"] for r in rows), abs=1e-3)
    assert out["baseline_total_seconds"] == pytest.approx(
        sum(r["baseline_seconds"] for r in rows), abs=1e-3)
    assert out["sleep_sets_total_seconds"] == pytest.approx(
        sum(r["sleep_sets_seconds"] for r in rows), abs=1e-3)
    assert out["all_verdicts_same"] is True
    printed = capsys.readouterr().out
    assert "target whole catalogue >= 3x faster" in printed and "seq-odd-at-start" in printed


def test_bench_refuses_a_negative_budget(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        bench.main(["--naive-seconds", "-1", "--no-mutants"])
    assert e.value.code == 2
    assert "--naive-seconds must be 0 or more" in capsys.readouterr().err


def test_against_refuses_an_unknown_commit_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from spfteach.explore import against

    assert against.main(["no-such-commit"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("against: git rev-parse") and "\n" not in err


@pytest.mark.slow
def test_against_the_same_commit_finds_the_same_states(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path) -> None:
    """The comparison runs both trees for real: against HEAD (the committed model; the
    working tree is this one) every scenario has the same states both ways."""
    from spfteach.explore import against

    monkeypatch.setattr(against.resources, "checkout_data_or_exit", lambda tool: tmp_path)
    assert against.main(["HEAD", "--rounds", "1"]) == 0
    import json
    out = json.loads((tmp_path / "explore-against.json").read_text())
    assert len(out["rows"]) == len(SCENARIOS) and out["rounds"] == 1
    assert all(r["seconds_then"] > 0 and r["seconds_now"] > 0 for r in out["rows"])
