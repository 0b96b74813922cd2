"""How the suite is laid out, and the fixtures the kernel and browser tests share.

``tests/<layer>/`` mirrors the package (DESIGN.md §8): ``model/``, ``engine/`` (sched, scenarios,
explore, drills, the C excerpts), ``viz/``, ``widgets/``, ``grading/``, ``kernel/`` (the driver
package, ``spfteach/kernel/``), ``frontends/`` (the command line, ``make lab``), ``notebooks/``,
``browser/`` and ``hub/`` (``make hub``: a whole term on a JupyterHub). Each test gets its
directory's marker (``-m model``, ``-m 'grading and not slow'``; ``tests/kernel/`` is marked
``driver``: ``kernel`` already means "builds and boots it").

Under pytest-xdist (``make test`` runs ``-n auto --dist loadgroup``) tests that share an
expensive fixture stay on one worker: every ``kernel`` test (one fetched and built tree, two
builds at once would race on it), and each module with a module-scoped fixture (one JupyterLab,
one autograded class)."""

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

TESTS = Path(__file__).resolve().parent
#: the directory a test lives in -> its marker
LAYER_MARKS = {"model": "model", "engine": "engine", "viz": "viz", "widgets": "widgets",
               "grading": "grading", "kernel": "driver", "frontends": "frontends",
               "notebooks": "notebooks", "browser": "browser", "hub": "hub"}


#: tests of the lower layers that explore for seconds each: left out of ``make test-quick``
#: (a developer's check before every commit, under two minutes), run by every other tier
HEAVY = (
    "model/test_footprints.py::test_footprints_hold",
    "engine/test_explore.py::test_reduction_agrees_with_brute_force",
    "engine/test_explore.py::test_searches_agree_on_the_small_scenarios",
    "engine/test_explore.py::test_memo_agrees",
    "engine/test_explore.py::test_small_scenarios_are_not_trivial",
    "engine/test_predict.py::test_grading",
    "engine/test_predict.py::test_a_mutant_does_not_give",
    "engine/test_predict.py::test_three_problems",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(TESTS)
        if len(rel.parts) > 1:
            item.add_marker(LAYER_MARKS[rel.parts[0]])
        if f"{rel.as_posix()}::{item.name}".startswith(HEAVY):
            item.add_marker("heavy")
        if item.get_closest_marker("kernel"):
            item.add_marker(pytest.mark.xdist_group("kernel"))
        elif _module_scoped(item):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


def _module_scoped(item: pytest.Item) -> bool:
    """Whether ``item`` uses a fixture set up once per module (or session)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(d.scope in ("module", "session")
               for defs in info.name2fixturedefs.values() for d in defs)


@pytest.fixture(scope="session")
def kernel_tree() -> Path:
    """The patched tree (`spfteach kernel fetch`: Debian's linux-source-6.1 unpacked, the
    series applied; installs the Debian packages first when run as root)."""
    spfteach = str(Path(sys.executable).parent / "spfteach")
    r = subprocess.run([spfteach, "kernel", "fetch"], capture_output=True, text=True,
                       timeout=1800)
    assert r.returncode == 0, r.stdout + r.stderr
    return Layout.from_options().src


@pytest.fixture(scope="session")
def kernel_tree_612() -> Path:
    """linux-source-6.12 as Debian ships it, unpacked (`spfteach kernel fetch --variant v6.12`:
    the version of kernel/SOURCE-VERSION-6.12, installed with apt first when run as root; no
    patches, nothing built): the C of per-VMA locks (`lock_vma_under_rcu()` in mm/memory.c,
    `vma_start_read()` in include/linux/mm.h, ...) that the model's links can be checked
    against. The fetch holds the build tree's lock, so it waits for a build in progress."""
    spfteach = str(Path(sys.executable).parent / "spfteach")
    r = subprocess.run([spfteach, "kernel", "fetch", "--variant", "v6.12"], capture_output=True,
                       text=True, timeout=1800)
    assert r.returncode == 0, r.stdout + r.stderr
    return Layout.from_options().src_612


@pytest.fixture
def lab_notebook(tmp_path: Path) -> Iterator[Callable[..., LabNotebook]]:
    """Open a notebook in JupyterLab in headless Chromium (tests/browser/'s lab_notebook, same
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
    """One JupyterLab and one headless Chromium for a whole test module (tests/browser/'s
    lab_session): `with lab_session.open(path) as nb: ...` opens a copy of each notebook in a
    page of its own. The root's parent holds copies of data/ and kernel/patches/, which the
    notebooks of notebooks/ read as ../data and ../kernel/patches."""
    from tests.browser import lab_session as start_session

    tmp = tmp_path_factory.mktemp("lab-session")
    with start_session(tmp, with_repo_dirs=("data", "kernel/patches")) as session:
        yield session
