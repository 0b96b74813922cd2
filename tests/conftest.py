"""Fixtures shared by the kernel tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from spfteach.kernel.layout import Layout


@pytest.fixture(scope="session")
def kernel_tree() -> Path:
    """The patched tree (`spfteach kernel fetch`: Debian's linux-source-6.1 unpacked, the
    series applied; installs the Debian packages first when run as root)."""
    spfteach = str(Path(sys.executable).parent / "spfteach")
    r = subprocess.run([spfteach, "kernel", "fetch"], capture_output=True, text=True,
                       timeout=1800)
    assert r.returncode == 0, r.stdout + r.stderr
    return Layout.from_options().src
