"""The kernel is built on a lab machine from a checkout, not on a student's hub (issue 26).

`spfteach kernel STEP` without a checkout's kernel/ port (a wheel) and, for a user who is not
root, any step that would need apt: exit status 2 and one line saying what to do instead,
before anything slow (the fetch is replaced by a trap, the fresh --build-dir is never made).
Notebook 7's optional build cell, switched on in a package or on a hub, prints one line and
starts nothing. The refusals in a real wheel are tests/test_wheel.py's."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

from spfteach import resources
from spfteach.kernel import add_subparser, commands, debsource, run, tools, where
from spfteach.kernel.layout import REPO
from spfteach.kernel.upstream import LINUX_61, LINUX_612

PORT = REPO / "kernel"
NOTEBOOK = REPO / "notebooks" / "07-real-kernel.ipynb"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="spfteach")
    add_subparser(parser.add_subparsers(dest="cmd"))
    return parser.parse_args(["kernel", *argv])


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every step's work is a trap: a refusal must come before any of it."""
    def trap(*args: object, **kwargs: object) -> None:
        raise AssertionError("work started before the refusal")
    for name in ("do_fetch", "do_fetch_612", "do_build"):
        monkeypatch.setattr(commands, name, trap)
    monkeypatch.setattr(tools, "ensure_packages", trap)
    monkeypatch.setattr(tools, "_run_apt", trap)
    monkeypatch.setattr(debsource, "_apt", trap)
    monkeypatch.delenv("SPFTEACH_KERNEL_DIR", raising=False)
    monkeypatch.delenv("SPFTEACH_BUILD", raising=False)


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert len(err) == 1 and err[0].startswith("spfteach: error: "), err
    assert captured.out == ""
    return err[0]


@pytest.mark.parametrize("step", ["fetch", "build", "check", "boot", "test", "bench"])
def test_without_a_checkout_each_step_refuses_in_one_line(
        step: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_work: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(resources, "checkout", lambda: None)
    assert run(parse([step])) == 2
    line = one_line(capsys)
    assert "installed as a package without one" in line
    assert "recorded runs the package ships (spfteach/data/kernel-bench/)" in line
    assert "on a lab machine from a git checkout" in line


def test_without_a_checkout_a_given_port_builds_beside_it_and_bench_needs_no_save(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_work: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    """An instructor's port given with --kernel-dir is used, but the build tree is not put in
    site-packages, and bench (whose record goes into a checkout) asks for --no-save."""
    from spfteach.kernel.layout import Layout

    monkeypatch.setattr(resources, "checkout", lambda: None)
    assert Layout.from_options(kernel_dir=str(PORT)).build == PORT / "build"
    assert run(parse(["bench", "--kernel-dir", str(PORT), "--build-dir",
                      str(tmp_path / "b")])) == 2
    assert "add --no-save, or run it from a git checkout" in one_line(capsys)
    assert not (tmp_path / "b").exists()


def _not_root(monkeypatch: pytest.MonkeyPatch, missing: list[str]) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(tools, "dpkg_missing", lambda packages=tools.PACKAGES: [
        p for p in missing if p in packages])


@pytest.mark.parametrize("step", ["fetch", "build", "check", "boot", "test", "bench"])
def test_not_root_when_apt_is_needed_one_line_before_any_work(
        step: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_work: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    _not_root(monkeypatch, ["qemu-system-x86", "flex"])
    monkeypatch.setattr(debsource, "installed_version",
                        lambda run=None, package="": debsource.recorded(
                            commands.Layout.from_options(kernel_dir=str(PORT)),
                            LINUX_612 if package == LINUX_612.package else LINUX_61))
    build = tmp_path / "build"
    assert run(parse([step, "--kernel-dir", str(PORT), "--build-dir", str(build)])) == 2
    line = one_line(capsys)
    assert f"spfteach kernel {step} needs Debian packages that are not installed " \
           "(qemu-system-x86 flex), and only root may install them" in line
    assert "`sudo apt-get install -y --no-install-recommends qemu-system-x86 flex`" in line
    assert not build.exists()


def test_not_root_and_the_recorded_source_version_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_work: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The archive offers the version the port was made on and another is installed: apt
    would install it, so a user who is not root is told which, at once."""
    _not_root(monkeypatch, [])
    want = (PORT / LINUX_612.version_file).read_text().split()[0]
    monkeypatch.setattr(debsource, "installed_version", lambda run=None, package="": "6.0-old")
    monkeypatch.setattr(debsource, "offered_versions", lambda run=None, package="": [want])
    assert run(parse(["fetch", "--variant", "v6.12", "--kernel-dir", str(PORT),
                      "--build-dir", str(tmp_path / "b")])) == 2
    assert f"(linux-source-6.12={want})" in one_line(capsys)


def test_as_root_or_with_everything_installed_there_is_no_refusal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check is no wall: root installs what is missing itself, and a user who is not root
    with every package in place goes on."""
    from spfteach.kernel import validate

    args = parse(["fetch", "--kernel-dir", str(PORT), "--build-dir", str(tmp_path / "b")])
    layout = commands.Layout.from_options(str(tmp_path / "b"), str(PORT))
    _not_root(monkeypatch, ["flex"])
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    validate.check_apt(layout, args)
    _not_root(monkeypatch, [])
    monkeypatch.setattr(debsource, "installed_version",
                        lambda run=None, package="": debsource.recorded(layout))
    validate.check_apt(layout, args)


# --- notebook 7's optional build cell --------------------------------------------------------

def _build_cell() -> str:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    (src,) = ["".join(c["source"]) for c in cells
              if c["cell_type"] == "code" and "BUILD_AND_BOOT = False" in "".join(c["source"])]
    return src.replace("BUILD_AND_BOOT = False", "BUILD_AND_BOOT = True", 1)


@pytest.mark.parametrize("case", ["hub", "package"])
def test_the_build_cell_switched_on_prints_one_line_and_starts_nothing(
        case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess

    def trap(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the cell started {args}")
    monkeypatch.setattr(subprocess, "run", trap)
    monkeypatch.setattr(subprocess, "Popen", trap)
    if case == "hub":
        monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    else:
        monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
        monkeypatch.setattr(resources, "checkout", lambda: None)
    exec(compile(_build_cell(), "notebook 7, build cell", "exec"),
         {"resources": resources})
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1, out
    assert out[0].startswith("Not built here: ")
    assert ("JupyterHub server ($JUPYTERHUB_USER is set)" if case == "hub"
            else "installed as a package, without a checkout's kernel/ port") in out[0]
    assert "the recorded runs above" in out[0] and "from a git checkout" in out[0]


def test_in_a_checkout_off_the_hub_the_cell_would_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusal is not unconditional: a lab machine's checkout goes on to the build."""
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    assert resources.checkout() == REPO
    assert where.not_here() is None
    monkeypatch.setenv("JUPYTERHUB_USER", "")  # set but empty: not a hub's
    assert where.not_here() is None
