"""Hostile input to every command (the kernel's steps have tests/kernel/test_kernel_bad_input.py):
one line on stderr that says what to do, exit 2, no traceback — and the output
degrades to ASCII, survives a full disk and a Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SPFTEACH = str(Path(sys.executable).parent / "spfteach")
HUGE = "9" * 5000
ARABIC_ONE = "\u0661"  # '١': Python's int() reads it as 1


def run(*args: str, env: dict | None = None, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    return subprocess.run([SPFTEACH, *args], stdout=stdout, stderr=subprocess.PIPE, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


BAD = [
    ("no command", []),
    ("unknown command", ["frobnicate"]),
    ("schedule with a 5,000-digit count", ["step", "quiet", "--schedule", f"0*{HUGE}"]),
    ("schedule with a 5,000-digit thread", ["step", "quiet", "--schedule", HUGE]),
    ("Unicode digits in a schedule", ["step", "quiet", "--schedule", f"{ARABIC_ONE}*3"]),
    ("0*0", ["step", "quiet", "--schedule", "0*0"]),
    ("schedule of words", ["step", "quiet", "--schedule", "zero"]),
    ("negative thread", ["step", "quiet", "--schedule", "-1"]),
    ("thread that does not exist", ["step", "quiet", "--schedule", "7"]),
    ("a finished thread", ["step", "quiet", "--schedule", "0*,0"]),
    ("unknown scenario to step", ["step", "no-such"]),
    ("unknown scenario to explore", ["explore", "no-such"]),
    ("unknown scenario to mutants", ["mutants", "--scenario", "no-such"]),
    ("unknown mutant to step", ["step", "quiet", "--mutant", "no-such"]),
    ("unknown mutant to explore", ["explore", "quiet", "--mutant", "no-such"]),
    ("a branch is no mutant", ["explore", "quiet", "--mutant", "spf_pte_none"]),
    ("a scope test is no mutant", ["mutants", "--mutant", "spf_grows"]),
    ("5,000-digit address", ["walk", HUGE]),
    ("Unicode digits in an address", ["walk", ARABIC_ONE]),
    ("a non-canonical address", ["walk", "0x800000000000"]),
    ("a kernel address", ["walk", "0xffffffff81000000"]),
    ("an address of words", ["walk", "main"]),
    ("5,000-digit seed", ["walk", "random", "--seed", HUGE]),
    ("Unicode digits in a seed", ["walk", "random", "--seed", ARABIC_ONE]),
    ("negative seed", ["walk", "random", "--seed", "-3"]),
    ("an option a command does not have", ["checks", "--schedule", "0"]),
]


@pytest.mark.parametrize("what,args", BAD, ids=[w for w, _ in BAD])
def test_bad_input_is_one_line_and_exit_2(what: str, args: list[str]) -> None:
    r = run(*args)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 2, (what, r.returncode, r.stderr)
    assert len(lines) == 1 and lines[0].startswith("spfteach"), (what, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    assert len(lines[0]) < 400, "one line a person reads, not a dump"


GOOD = [["scenarios"], ["scenarios", "--json"], ["step", "fault-vs-munmap"], ["explore", "quiet"],
        ["explore", "quiet", "--json"], ["walk", "random", "--seed", "3", "--solve"],
        ["checks"], ["checks", "--json"]]


@pytest.mark.parametrize("args", GOOD, ids=" ".join)
def test_a_full_disk_is_one_line(args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        r = run(*args, stdout=full)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and "cannot write the output" in lines[0], r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"},
                                 {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0",
                                  "PYTHONIOENCODING": ""}], ids=["ascii", "C locale"])
@pytest.mark.parametrize("args", GOOD, ids=" ".join)
def test_a_terminal_without_unicode_gets_ascii(env: dict, args: list[str]) -> None:
    r = subprocess.run([SPFTEACH, *args], capture_output=True, timeout=300,
                       env={**os.environ, **env})
    assert r.returncode in (0, 1), r.stderr
    assert b"Traceback" not in r.stderr
    r.stdout.decode("ascii")  # every byte is ASCII
    if args[0] == "step":
        assert b"->" in r.stdout  # the arrows fell back, they did not vanish


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc: no psutil needed)."""
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(d))
    return kids


def test_ctrl_c_during_a_search_is_one_line_and_exit_130() -> None:
    """mutants explores for minutes, on worker processes: Ctrl-C stops it with one
    line, no traceback from the workers, exit 130."""
    # SIGINT as a terminal's foreground job has it: a runner started in the background
    # of a non-interactive shell ignores SIGINT, its children inherit that, and Python
    # then installs no KeyboardInterrupt handler (the test would wait 120 s and fail).
    p = subprocess.Popen([SPFTEACH, "mutants"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # Interrupt the search itself, not the interpreter's start-up (on a loaded
    # machine 3 s may not reach it): wait until the workers exist.
    deadline = time.monotonic() + 120
    while not _children(p.pid) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _children(p.pid), "spfteach mutants started no workers"
    time.sleep(0.5)
    os.killpg(p.pid, signal.SIGINT)  # as a terminal does: the whole process group
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, (p.returncode, err)
    assert err.strip() == "spfteach: interrupted", err
