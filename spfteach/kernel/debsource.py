"""Which ``linux-source-6.1`` (and ``-6.12``) to build: the Debian version the port recorded.

Debian's bookworm-security archive moves ``linux-source-6.1`` on every point
release, and a new version can make a hunk stop applying with ``--fuzz=0``: on
the day it lands every user's ``make test`` would break at once.  So the port
records the version it was made and tested on (``kernel/SOURCE-VERSION``), and
``kernel fetch`` installs exactly that one while the archive still offers it (the
archive keeps a few point releases), else the newest, saying so.  When the
series then does not apply, the error names both versions (:func:`apply_hint`).

Only the Debian package is managed: a tarball given with
``$SPFTEACH_LINUX_TARBALL`` is the user's, and a port without ``SOURCE-VERSION``
(the tests' fixture port) pins nothing.

Linux 6.12 (per-VMA locks, the comparison the bench makes) is pinned the same way, in
``kernel/SOURCE-VERSION-6.12``: no patch of ours applies to it, but a figure measured on
6.12.118 should say so, and the next point release should not change it silently.  Each
function takes the :class:`~.upstream.Upstream` it is about; 6.1 is the default.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from . import tools
from .errors import KernelError
from .layout import Layout
from .upstream import LINUX_61, Upstream

DEFAULT_TARBALL = LINUX_61.tarball
PACKAGE = LINUX_61.package
VERSION_FILE = LINUX_61.version_file


@dataclass(frozen=True)
class Choice:
    """What to do: the version to use, whether apt must install it, and why (a note
    for the user when it is not the recorded one)."""

    version: str
    install: bool
    note: str = ""


def recorded(layout: Layout, up: Upstream = LINUX_61) -> str | None:
    """The version the port was made on, or None (nothing recorded, or a tarball of
    the user's own)."""
    path = layout.kernel_dir / up.version_file
    if layout.tarball_of(up) != up.tarball or not path.is_file():
        return None
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            return line
    raise KernelError(f"{layout.rel(path)} names no version: write the Debian version of "
                      f"{up.package} the port was made on (e.g. {up.example})")


def choose(want: str, offered: list[str], installed: str | None,
           package: str = PACKAGE) -> Choice:
    """``offered`` as apt lists it, newest first.  The recorded version when it is
    installed or offered; else the newest offered (installed when it is not yet)."""
    if installed == want:
        return Choice(want, False)
    if want in offered:
        return Choice(want, True)
    if not offered:
        if installed:
            return Choice(installed, False, f"the port was made on {package} {want}; the "
                          f"archive offers no {package}: using the installed {installed}")
        raise KernelError(f"the archive offers no {package} (wanted {want}): run "
                          "`apt-get update`, or check /etc/apt/sources.list for bookworm-security")
    newest = offered[0]
    return Choice(newest, installed != newest,
                  f"the port was made and tested on {package} {want}, which the archive no "
                  f"longer offers: using the newest, {newest}; if the series does not apply "
                  "to it, see kernel/README.md (the source version)")


def installed_version(run: Callable[[list[str]], str] | None = None,
                      package: str = PACKAGE) -> str | None:
    out = (run or _out)(["dpkg-query", "-W", "-f", "${Version} ${db:Status-Status}", package])
    words = out.split()
    return words[0] if len(words) == 2 and words[1] == "installed" else None


def offered_versions(run: Callable[[list[str]], str] | None = None,
                     package: str = PACKAGE) -> list[str]:
    """``apt-cache madison``: every version the configured archives offer, newest first."""
    out = (run or _out)(["apt-cache", "madison", package])
    seen: list[str] = []
    for line in out.splitlines():
        cols = [c.strip() for c in line.split("|")]
        if len(cols) >= 3 and cols[0] == package and cols[1] not in seen:
            seen.append(cols[1])
    return seen


def install_command(version: str, package: str = PACKAGE) -> list[str]:
    return ["apt-get", "install", "-y", "--no-install-recommends", "--allow-downgrades",
            f"{package}={version}"]


def ensure(layout: Layout, say: Callable[[str], None],
           run_out: Callable[[list[str]], str] | None = None,
           run_apt: Callable[[list[str]], int] | None = None,
           up: Upstream = LINUX_61) -> str | None:
    """Make the recorded version (or the fallback :func:`choose` picks) the installed
    one; returns the version the tree will be unpacked from (None: not managed)."""
    want = recorded(layout, up)
    if want is None or shutil.which("dpkg-query") is None and run_out is None:
        return None
    installed = installed_version(run_out, up.package)
    if installed == want:
        return want
    offered = offered_versions(run_out, up.package)
    if want not in offered and (os.geteuid() == 0 or run_apt is not None):
        say("apt-get update")  # the lists may predate the version, or be missing
        (run_apt or _apt)(["apt-get", "update", "-qq"])
        offered = offered_versions(run_out, up.package)
    c = choose(want, offered, installed, up.package)
    if c.note:
        say(f"note: {c.note}")
    if c.install:
        cmd = install_command(c.version, up.package)
        if os.geteuid() != 0 and run_apt is None:
            raise KernelError(f"{up.package} {installed or 'is not installed'}, the port wants "
                              f"{c.version}: install it with `sudo {' '.join(cmd)}` (or run "
                              "this as root and it will)")
        say(" ".join(cmd))
        if (run_apt or _apt)(cmd) != 0:
            raise KernelError(f"`{' '.join(cmd)}` failed: run it by hand to see why")
    return c.version


def fetch_packages(layout: Layout, up: Upstream = LINUX_61) -> tuple[str, ...]:
    """The Debian packages ``fetch`` makes sure of for ``up``'s tree, besides the source
    package :func:`ensure` manages in its recorded version (6.1's when it is managed; 6.12's
    is never in the list)."""
    managed = recorded(layout, up) is not None
    return tuple(p for p in tools.PACKAGES
                 if not (p == LINUX_61.package and (managed or up != LINUX_61)))


def apt_needs(layout: Layout, up: Upstream = LINUX_61) -> list[str]:
    """What ``fetch`` would ask apt to install for ``up`` (``package`` or ``package=version``),
    found without installing anything: the check a user who is not root gets first."""
    needs = list(tools.dpkg_missing(fetch_packages(layout, up)) or [])
    want = recorded(layout, up)
    if want is not None and shutil.which("dpkg-query") is not None:
        installed = installed_version(package=up.package)
        if installed != want:
            c = choose(want, offered_versions(package=up.package), installed, up.package)
            if c.install:
                needs.append(f"{up.package}={c.version}")
    return needs


def apply_hint(layout: Layout) -> str:
    """For an error that the series does not apply: which source it did not apply to,
    which one it was made on, and what to do."""
    want = recorded(layout)
    if want is None:
        return ""
    have = installed_version() if shutil.which("dpkg-query") else None
    if have == want or have is None:
        return f" ({PACKAGE} {want}, the version the series was made on)"
    record = layout.rel(layout.kernel_dir / VERSION_FILE)
    return (f" ({PACKAGE} {have}; the series was made on {want}: install that with "
            f"`{' '.join(install_command(want))}` if the archive still offers it, else rebase "
            f"the series on {have} and record it in {record})")


def _out(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout
    except FileNotFoundError:
        return ""


def _apt(cmd: list[str]) -> int:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL).returncode
