"""The command line as a user meets it: outputs, and one-line errors with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spfteach.model import checks
from tests.paths import ROOT

SPFTEACH = str(Path(sys.executable).parent / "spfteach")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SPFTEACH, *args], capture_output=True, text=True, timeout=60)


def test_help_teaches() -> None:
    r = run("--help")
    assert r.returncode == 0
    for word in ("mmap_lock", "scenarios", "step", "walk", "checks", "examples"):
        assert word in r.stdout
    r = run("step", "--help")
    assert "0*24,1*,0*" in r.stdout or "N*K" in r.stdout


def test_scenarios_lists_the_three() -> None:
    r = run("scenarios")
    assert r.returncode == 0
    for name in ("quiet", "fault-vs-munmap", "fault-vs-mprotect"):
        assert f"{name}:" in r.stdout


def test_step_prints_trace_and_result() -> None:
    r = run("step", "fault-vs-munmap", "--schedule", "munmap-before-lock")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "handle_speculative_fault" in out
    assert "seq = raw_read_seqcount(&vma->vm_sequence);" in out
    assert "vma0.vm_sequence 0→1" in out
    assert "check maplock_vma_changed: aborts with VM_FAULT_RETRY" in out
    assert "speculative path VM_FAULT_RETRY (check maplock_vma_changed)" in out
    assert "classic path VM_FAULT_SIGSEGV" in out
    r = run("step", "quiet")
    assert "handled speculatively, 0 (handled)" in r.stdout


def test_step_explicit_schedule_then_default() -> None:
    r = run("step", "fault-vs-mprotect", "--schedule", "0,0,1")
    assert r.returncode == 0
    assert "schedule done after 3 steps" in r.stdout
    lines = [ln for ln in r.stdout.splitlines() if ln[:3].strip().isdigit()]
    assert [ln.split()[1] for ln in lines[:3]] == ["T0", "T0", "T1"]


def test_checks_json() -> None:
    r = run("checks", "--json")
    data = json.loads(r.stdout)
    assert len(data) == len(checks.CHECKS)
    for item in data:
        assert {"name", "function", "snippet", "reason"} <= set(item)
        assert item["reason"]
    r = run("checks")
    assert "spf_seq_odd" in r.stdout and "why:" in r.stdout


def test_walk_drill() -> None:
    r = run("walk", "0x7f0000001234", "--seed", "1")
    assert r.returncode == 0
    assert "pgd    bits 47..39 = 254" in r.stdout
    assert "Translation" not in r.stdout
    r = run("walk", "random", "--seed", "1", "--solve")
    assert "Translation" in r.stdout


@pytest.mark.parametrize("args,needle", [
    (("step", "nosuch"), "unknown scenario 'nosuch' (list them with: spfteach scenarios)"),
    (("step", "fault-vs-mumap"), "did you mean fault-vs-munmap"),
    (("step", "quiet", "--schedule", "3"), "no thread 3"),
    (("step", "quiet", "--schedule", "0*,0"), "has finished"),
    (("step", "fault-vs-munmap", "--schedule", "1*3,0*,0"), "is blocked waiting for mmap_lock"),
    (("step", "quiet", "--schedule", "zero"), "bad schedule item 'zero'"),
    (("walk", "banana"), "bad address 'banana'"),
    (("walk", "0x800000000000"), "not canonical"),
    (("walk", "0xffff888000000000"), "kernel address"),
    (("walk", "0x1000", "--seed", "-1"), "'-1' is not a problem number"),
    (("walk", "0x1000", "--seed", "x"), "'x' is not a problem number"),
    (("frobnicate",), "invalid choice"),
])
def test_bad_input_is_one_line_exit_2(args: tuple[str, ...], needle: str) -> None:
    r = run(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    err = r.stderr.strip()
    assert needle in err, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err


def test_readme_commands_parse() -> None:
    """Every `spfteach` command line the README shows is one the CLI accepts (parsed,
    not run: some of them build a kernel), so the README cannot drift from the CLI."""
    import shlex

    from spfteach.cli import _parser

    readme = (ROOT / "README.md").read_text()
    lines = [ln.split("  #", 1)[0].strip() for ln in readme.splitlines()
             if ln.startswith(".venv/bin/spfteach ")]
    assert len(lines) >= 15
    parser = _parser()
    for line in lines:
        argv = shlex.split(line)[1:]
        try:
            parser.parse_args(argv)
        except SystemExit as e:
            pytest.fail(f"README command does not parse ({e.code}): {line}")


def test_explore_offers_every_search_and_they_agree() -> None:
    """``--search`` lists exactly the explorer's searches; each gives the same
    verdict and states, and says which it ran."""
    from spfteach.cli import SEARCH_CHOICES
    from spfteach.explore.search import SEARCHES

    assert SEARCH_CHOICES == SEARCHES
    got = {}
    for search in SEARCHES:
        r = run("explore", "fault-vs-mprotect", "--mutant", "maplock_vma_changed_locked",
                "--search", search, "--json")
        assert r.returncode == 1, r.stderr
        d = json.loads(r.stdout)
        got[search] = (sorted(d["counterexamples"]), d["states"] if search != "state-caching"
                       else None)
        assert "sleep sets" in d["method"] or search == "state-caching"
    assert got["memo"] == got["sleep-sets"]
    assert got["memo"][0] == got["state-caching"][0] == ["pte-rights"]
    r = run("explore", "fault-vs-mprotect", "--search", "dpor")
    assert r.returncode == 2 and "memo" in r.stderr
