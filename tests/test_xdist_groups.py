"""``make test`` keeps the tests that share an expensive fixture on one worker (tests/conftest.py:
``xdist_group`` marks, ``--dist loadgroup``). pytest 9.2 silently broke that with pytest-xdist 3.8
(pytest-xdist#1386): a grouped test then runs on any worker and each worker builds the fixture
again. This runs a grouped probe on two workers and asserts it stayed on one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = '''
import os
import pytest


@pytest.mark.xdist_group("probe")
@pytest.mark.parametrize("i", range(8))
def test_grouped(i):
    with open(os.environ["PROBE_OUT"], "a") as f:
        f.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")
'''


def test_loadgroup_keeps_a_group_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_probe.py").write_text(PROBE)
    out = tmp_path / "workers.txt"
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
                        "--dist", "loadgroup", "-c", "/dev/null", str(tmp_path / "test_probe.py")],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PROBE_OUT": str(out)})
    assert r.returncode == 0, r.stdout + r.stderr
    workers = out.read_text().split()
    assert len(workers) == 8
    assert len(set(workers)) == 1, f"the group ran on {sorted(set(workers))}: pytest-xdist#1386"
