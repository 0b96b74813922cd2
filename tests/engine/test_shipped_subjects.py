"""spfteach/data/patches.json, the series' order, files and subjects the package ships for
notebook 7, is what kernel/patches/ says (like the C excerpts, tests/engine/test_excerpts.py):
a patch added, renamed or retitled without `python -m spfteach.kernel.subjects --write` fails
here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from spfteach import resources
from spfteach.kernel import subjects
from tests.paths import ROOT

SERIES = ROOT / "kernel" / "patches" / "series"
FIX = "run `python -m spfteach.kernel.subjects --write`"


def test_the_shipped_subjects_are_the_series() -> None:
    shipped = resources.read_json(subjects.SUBJECTS)
    assert shipped == json.loads(subjects.dumps(SERIES)), f"stale patches.json: {FIX}"
    names = [line.split()[0] for line in SERIES.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert [p["file"] for p in shipped["patches"]] == names
    assert shipped["patches"][10]["subject"] == "mm: provide the speculative page fault handler"
    # a folded Subject: line is one line here
    assert shipped["patches"][1]["subject"] == \
        "x86/mm: select ARCH_SUPPORTS_SPECULATIVE_PAGE_FAULT on x86-64"
    # the hunk notebook 7 shows: handle_pte_fault()'s re-check, as the seed patch has it
    (shown,) = shipped["hunks"]
    assert shown["file"] == names[10] and shown["text"].startswith("@@ ")
    assert "vma_has_changed(vmf)" in shown["text"]


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(SERIES.parent, tmp_path / "patches")
    return tmp_path / "patches" / "series"


def test_a_retitled_or_dropped_patch_is_seen(tmp_path: Path) -> None:
    """The check above can fail: the same series with one subject changed, or one patch
    fewer, does not give the shipped file."""
    series = _copy(tmp_path)
    first = series.parent / SERIES.read_text().split()[0]
    first.write_text(first.read_text().replace("introduce CONFIG_SPECULATIVE_PAGE_FAULT",
                                               "introduce CONFIG_SPF", 1))
    got = json.loads(subjects.dumps(series))
    assert got["patches"][0]["subject"] == "mm: introduce CONFIG_SPF"
    assert got != resources.read_json(subjects.SUBJECTS)
    series.write_text("\n".join(series.read_text().splitlines()[:-1]) + "\n")
    assert len(json.loads(subjects.dumps(series))["patches"]) == 13


def test_the_command_says_stale_and_exits_1(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert subjects.main(["--check"]) == 0
    monkeypatch.setattr(subjects, "dumps", lambda series: '{"patches": []}\n')
    assert subjects.main(["--check"]) == 1
    assert "is stale: run `python -m spfteach.kernel.subjects --write`" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["--write"], ["--check"]])
def test_without_a_checkout_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str],
                                                 args: list[str]) -> None:
    monkeypatch.setattr(resources, "checkout", lambda: None)
    assert subjects.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "installed without it" in err


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert subjects.main([]) == 2
    assert subjects.main(["--write", "--check"]) == 2
    assert capsys.readouterr().err.count("usage:") == 2
