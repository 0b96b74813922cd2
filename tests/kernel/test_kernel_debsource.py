"""Which linux-source-6.1 the pipeline builds (spfteach/kernel/debsource.py): the version the
series was made on while the archive offers it, else the newest, saying so; the choice is made
with fake dpkg/apt answers, so these tests install nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from spfteach.kernel import debsource
from spfteach.kernel.errors import KernelError
from spfteach.kernel.layout import REPO, Layout

MADISON = """\
linux-source-6.1 |  6.1.193-1 | http://deb.debian.org/debian-security bookworm-security/main
linux-source-6.1 |  6.1.192-3 | http://deb.debian.org/debian-security bookworm-security/main
linux-source-6.1 |  6.1.176-1 | http://deb.debian.org/debian bookworm/main amd64 Packages
"""


def _layout(tmp_path: Path, version: str | None) -> Layout:
    port = tmp_path / "kernel"
    port.mkdir()
    if version is not None:
        (port / "SOURCE-VERSION").write_text(f"# made on\n{version}  # comment\n")
    return Layout.from_options(str(tmp_path / "build"), str(port))


def _fake(installed: str | None, madison: str = MADISON):
    calls: list[list[str]] = []

    def out(cmd: list[str]) -> str:
        calls.append(cmd)
        if cmd[0] == "dpkg-query":
            return f"{installed} installed" if installed else ""
        return madison

    def apt(cmd: list[str]) -> int:
        calls.append(cmd)
        return 0
    return out, apt, calls


def test_the_recorded_version_is_the_repositorys() -> None:
    text = (REPO / "kernel" / "SOURCE-VERSION").read_text()
    assert Layout.from_options().tarball == debsource.DEFAULT_TARBALL
    assert debsource.recorded(Layout.from_options()) == text.split()[0]


def test_choose() -> None:
    offered = ["6.1.193-1", "6.1.192-3"]
    assert debsource.choose("6.1.192-3", offered, "6.1.192-3") == debsource.Choice(
        "6.1.192-3", False)
    assert debsource.choose("6.1.192-3", offered, "6.1.193-1") == debsource.Choice(
        "6.1.192-3", True)  # a newer one installed: go back to the recorded one
    c = debsource.choose("6.1.150-1", offered, None)
    assert (c.version, c.install) == ("6.1.193-1", True)
    assert "no longer offers" in c.note and "6.1.150-1" in c.note
    c = debsource.choose("6.1.150-1", offered, "6.1.193-1")
    assert (c.version, c.install) == ("6.1.193-1", False) and c.note
    with pytest.raises(KernelError, match="apt-get update"):
        debsource.choose("6.1.150-1", [], None)


def test_ensure_installs_exactly_the_recorded_version(tmp_path: Path) -> None:
    out, apt, calls = _fake("6.1.193-1")
    said: list[str] = []
    assert debsource.ensure(_layout(tmp_path, "6.1.192-3"), said.append, out, apt) == "6.1.192-3"
    assert ["apt-get", "install", "-y", "--no-install-recommends", "--allow-downgrades",
            "linux-source-6.1=6.1.192-3"] in calls
    assert not [s for s in said if s.startswith("note:")]


def test_ensure_falls_back_to_the_newest_and_says_so(tmp_path: Path) -> None:
    out, apt, calls = _fake(None)
    said: list[str] = []
    assert debsource.ensure(_layout(tmp_path, "6.1.150-1"), said.append, out, apt) == "6.1.193-1"
    assert ["apt-get", "update", "-qq"] in calls  # the lists may just be old
    assert calls[-1][-1] == "linux-source-6.1=6.1.193-1"
    assert any("no longer offers" in s for s in said), said


def test_ensure_does_nothing_when_it_is_installed(tmp_path: Path) -> None:
    out, apt, calls = _fake("6.1.192-3")
    assert debsource.ensure(_layout(tmp_path, "6.1.192-3"), print, out, apt) == "6.1.192-3"
    assert [c for c in calls if c[0] == "apt-get"] == []


def test_not_root_names_the_command(tmp_path: Path, monkeypatch) -> None:
    out, _, _ = _fake("6.1.193-1")
    monkeypatch.setattr(debsource.os, "geteuid", lambda: 1000)
    with pytest.raises(KernelError, match=r"sudo apt-get install .*linux-source-6.1=6.1.192-3"):
        debsource.ensure(_layout(tmp_path, "6.1.192-3"), print, out)


def test_unmanaged_without_a_record_or_with_own_tarball(tmp_path: Path) -> None:
    out, apt, calls = _fake("6.1.193-1")
    assert debsource.ensure(_layout(tmp_path, None), print, out, apt) is None
    own = Layout(tmp_path / "kernel", tmp_path / "build", tarball=tmp_path / "my.tar.xz")
    (tmp_path / "kernel").mkdir(exist_ok=True)
    (tmp_path / "kernel" / "SOURCE-VERSION").write_text("6.1.192-3\n")
    assert debsource.ensure(own, print, out, apt) is None
    assert calls == []


def test_an_empty_record_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KernelError, match="names no version"):
        debsource.recorded(_layout(tmp_path, "# nothing"))


def test_apply_hint_names_both_versions(tmp_path: Path, monkeypatch) -> None:
    layout = _layout(tmp_path, "6.1.192-3")
    monkeypatch.setattr(debsource, "installed_version", lambda run=None: "6.1.193-1")
    monkeypatch.setattr(debsource.shutil, "which", lambda _: "/usr/bin/dpkg-query")
    hint = debsource.apply_hint(layout)
    assert "6.1.193-1" in hint and "made on 6.1.192-3" in hint
    assert "linux-source-6.1=6.1.192-3" in hint and "rebase" in hint
