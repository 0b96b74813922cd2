"""Fixtures shared by the kernel tests and the browser tests."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from spfteach.kernel.layout import Layout

if TYPE_CHECKING:
    from tests.browser import LabNotebook, LabSession


@pytest.fixture(scope="session")
def kernel_tree() -> Path:
    """The patched tree (`spfteach kernel fetch`: Debian's linux-source-6.1 unpacked, the
    series applied; installs the Debian packages first when run as root)."""
    spfteach = str(Path(sys.executable).parent / "spfteach")
    r = subprocess.run([spfteach, "kernel", "fetch"], capture_output=True, text=True,
                       timeout=1800)
    assert r.returncode == 0, r.stdout + r.stderr
    return Layout.from_options().src


@pytest.fixture
def lab_notebook(tmp_path: Path) -> Iterator[Callable[..., LabNotebook]]:
    """Open a notebook in JupyterLab in headless Chromium (tests/browser.py's lab_notebook, same
    arguments): `nb = lab_notebook(path)`. Browser and server stop at the test's end, even when
    it fails. tests.browser is imported here, not at the top, so that only browser tests load
    playwright."""
    from tests.browser import lab_notebook as open_notebook

    with contextlib.ExitStack() as stack:
        count = 0

        def open_(notebook: Path, **kwargs: Any) -> LabNotebook:
            nonlocal count
            count += 1
            kwargs.setdefault("tmp_dir", tmp_path / f"lab{count}")
            return stack.enter_context(open_notebook(notebook, **kwargs))

        yield open_


@pytest.fixture(scope="module")
def lab_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabSession]:
    """One JupyterLab and one headless Chromium for a whole test module (tests/browser.py's
    lab_session): `with lab_session.open(path) as nb: ...` opens a copy of each notebook in a
    page of its own. The root's parent holds copies of data/ and kernel/patches/, which the
    notebooks of notebooks/ read as ../data and ../kernel/patches."""
    from tests.browser import lab_session as start_session

    tmp = tmp_path_factory.mktemp("lab-session")
    with start_session(tmp, with_repo_dirs=("data", "kernel/patches")) as session:
        yield session
