"""The package installs anywhere (issue 26): a wheel built from this tree, installed in a fresh
virtual environment outside the checkout, runs the stepper with its C panels, the explorer with
the mutant matrix, and the grading of a reference answer of the course through the jail, all
from the data the wheel carries (spfteach/data/, read through spfteach.resources). The kernel
stays a checkout's: in the wheel, `spfteach kernel` and the developer tools refuse in one line.

What it costs (2 cores shared with other jobs, this machine's package mirror): 35-70 s by the
load, of which 20-50 s is `pip install` of the wheel's dependencies (JupyterLab, nbgrader, ...)
into the new venv, about the same with pip's cache or without (`--no-cache-dir`: the mirror here
is local files); the build of the wheel 2-9 s, the venv 3-9 s, what runs in it 1-6 s. It is
`slow`: `make test` runs it, `make test-fast` and `make test-quick` leave it out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.paths import ROOT

pytestmark = pytest.mark.slow

#: the course's assignment whose reference answer is graded, and that answer's cell
ASSIGNMENT = ROOT / "notebooks" / "course" / "source" / "vma_has_changed" / "vma_has_changed.ipynb"
ANSWER_ID = "vma-answer"
#: cold, pip fetches every dependency; each step gets far more than it needs
TIMEOUT = 900


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    elsewhere: Path  # a directory outside the checkout, the commands' cwd
    seconds: dict[str, float]

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """A command of the venv, from outside the checkout, with nothing pointing at it."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "JUPYTERHUB_USER")
               and not k.startswith("SPFTEACH_")}
        return subprocess.run(args, cwd=self.elsewhere, env=env, input=stdin,
                              capture_output=True, text=True, timeout=TIMEOUT)


def _step(what: str, cmd: list[str], seconds: dict[str, float], cwd: Path) -> None:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    seconds[what] = round(time.perf_counter() - t0, 1)
    assert r.returncode == 0, \
        f"{what} failed: {' '.join(cmd)}\n{r.stdout[-3000:]}{r.stderr[-3000:]}"


def _source_copy(dest: Path) -> Path:
    """The files git tracks or would track (not .venv/, build/, kernel/build/): the wheel is
    built from this copy, so the build leaves nothing (build/, *.egg-info) in the checkout."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():  # a file deleted but not yet committed is listed too
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def install(tmp: Path) -> Installed:
    """Build the wheel from a copy of the checkout, make a venv and pip install it there."""
    assert ROOT not in tmp.resolve().parents, "the venv must live outside the checkout"
    seconds: dict[str, float] = {}
    src = _source_copy(tmp / "src")
    _step("pip wheel", [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                        "-w", str(tmp / "dist"), str(src)], seconds, tmp)
    (wheel,) = (tmp / "dist").glob("spfteach-*.whl")
    _step("venv", [sys.executable, "-m", "venv", str(tmp / "venv")], seconds, tmp)
    _step("pip install", [str(tmp / "venv" / "bin" / "python"), "-m", "pip", "install", "-q",
                          str(wheel)], seconds, tmp)
    (tmp / "elsewhere").mkdir()
    return Installed(wheel, tmp / "venv", tmp / "elsewhere", seconds)


def check_the_wheel_carries_the_data_and_not_the_checkout(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    tracked = subprocess.run(["git", "ls-files", "spfteach/data"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    assert len(tracked) > 15
    assert not [t for t in tracked if t not in names], "data files missing from the wheel"
    for needed in ("spfteach/data/c-excerpts.json", "spfteach/data/c-excerpts-6.12.json",
                   "spfteach/data/mutants.json", "spfteach/data/designs.json",
                   "spfteach/data/patches.json", "spfteach/data/spf-v9-ebizzy.json"):
        assert needed in names
    # the kernel port, the tests and the notebooks stay in the checkout
    assert not [n for n in names if n.startswith(("kernel/", "tests/", "notebooks/", "data/"))]


PROBE = r"""
import json, sys
import spfteach
from spfteach import grading, resources
from spfteach.grading import jail
from spfteach.kernel.where import not_here
from spfteach.widgets import RaceStepper
from spfteach.widgets.explorer import ExplorerPanel

out = {"spfteach": spfteach.__file__, "checkout": resources.checkout(),
       "runs": [p.name for p in resources.kernel_runs()], "not_here": not_here()}
s = RaceStepper("fault-vs-munmap")
_ = s.widget
for _ in range(5):
    s.step_buttons[0].click()
view = s.code[0]
out["stepper"] = {"schedule": s.schedule, "title": view.title, "lines": len(view.lines),
                  "marked": view.marked_text.strip(), "current": s.current_line(0)}
panel = ExplorerPanel("fault-vs-munmap")
report = panel.explore("hpf_vma_changed")
out["explorer"] = {"violations": len(panel.counterexamples),
                   "expected_states": panel._expected_states(),
                   "matrix": len(resources.read_json("mutants.json")["mutants"])}
out["jail"] = jail.probe()
reference = sys.stdin.read()
right = grading.grade_vma_has_changed(reference)
wrong = grading.grade_vma_has_changed(
    "def vma_has_changed(vm_sequence_now, seq_at_start, vm_detached):\n    return False\n")
out["grades"] = {"reference": [right.points, right.max_points, right.verdict, right.refused],
                 "always False": [wrong.points, wrong.verdict]}
print(json.dumps(out))
"""


def _reference_answer() -> str:
    cells = json.loads(ASSIGNMENT.read_text())["cells"]
    (cell,) = [c for c in cells if c["metadata"].get("nbgrader", {}).get("grade_id") == ANSWER_ID]
    return "".join(line for line in cell["source"] if "### BEGIN SOLUTION" not in line
                   and "### END SOLUTION" not in line)


def check_the_stepper_the_explorer_and_the_grading_run_from_the_wheel(
        installed: Installed) -> None:
    t0 = time.perf_counter()
    r = installed.run(str(installed.python), "-c", PROBE, stdin=_reference_answer())
    installed.seconds["probe"] = round(time.perf_counter() - t0, 1)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.splitlines()[-1])
    # imported from the venv, not from the checkout; no checkout around it
    assert Path(got["spfteach"]).is_relative_to(installed.venv), got["spfteach"]
    assert got["checkout"] is None
    assert len(got["runs"]) == len(list((ROOT / "spfteach/data/kernel-bench").glob("*.json")))
    assert "installed as a package" in got["not_here"]
    # the stepper's C panel shows C from the shipped excerpts, the current line marked
    st = got["stepper"]
    assert st["schedule"] == [0] * 5
    assert "mm/memory.c" in st["title"] and st["lines"] > 20
    assert st["marked"] == st["current"] and st["marked"].endswith(";")
    # the explorer finds the mutant's race, and the recorded matrix loads
    ex = got["explorer"]
    assert ex["violations"] >= 1 and ex["expected_states"] > 0 and ex["matrix"] > 20
    # the reference answer gets full marks through the jail, a wrong one does not
    assert got["jail"]
    points, max_points, verdict, refused = got["grades"]["reference"]
    assert (points, verdict, refused) == (max_points, "pass", ""), got["grades"]
    assert got["grades"]["always False"][0] < max_points


def check_in_the_wheel_the_kernel_and_the_writers_refuse_in_one_line(
        installed: Installed) -> None:
    spfteach = str(installed.venv / "bin" / "spfteach")
    for cmd, says in (([spfteach, "kernel", "test"], "installed as a package without one"),
                      ([str(installed.python), "-m", "spfteach.explore.bench"],
                       "installed at"),
                      ([str(installed.python), "-m", "spfteach.kernel.subjects", "--write"],
                       "installed without it")):
        t0 = time.perf_counter()
        r = installed.run(*cmd)
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        err = r.stderr.splitlines()
        assert len(err) == 1 and says in err[0], (cmd, r.stderr)
        assert time.perf_counter() - t0 < 30  # before anything slow


def test_the_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    """One test, one install: a module-scoped fixture would be set up again on every xdist
    worker that runs one of its tests (pytest 9.2 with xdist 3.8 forms no --dist loadgroup
    groups: pytest-xdist#1386), doubling the cost of the slowest step."""
    try:
        installed = install(tmp_path)
        check_the_wheel_carries_the_data_and_not_the_checkout(installed)
        check_the_stepper_the_explorer_and_the_grading_run_from_the_wheel(installed)
        check_in_the_wheel_the_kernel_and_the_writers_refuse_in_one_line(installed)
        print(f"wheel test, seconds: {installed.seconds}")
    finally:  # pytest keeps the last runs' tmp dirs: not a few hundred MB of venv each
        shutil.rmtree(tmp_path / "venv", ignore_errors=True)
