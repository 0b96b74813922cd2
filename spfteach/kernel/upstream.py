"""The Debian kernel sources the pipeline builds: 6.1 (our SPF port) and 6.12 (per-VMA locks).

Linux 6.1 is the last LTS whose fault path takes ``mmap_lock`` for every fault, so the SPF
series is ported there.  Linux 6.12 carries SPF's mainline successor, per-VMA locks
(``lock_vma_under_rcu()``, merged in 6.4): built as Debian ships it, no patch of ours, it is
the other design the bench compares against.  Both come from the same archive in the same
way (a ``linux-source-X`` package whose tarball lands in ``/usr/src``), so one record
describes each, and :mod:`.debsource` installs either in the version the port recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Upstream:
    """One Debian ``linux-source-X`` package and where the port records its version."""

    key: str  # "6.1", "6.12": how the rest of the driver names it
    package: str  # the Debian package, e.g. linux-source-6.12
    version_file: str  # in the port (kernel/): the Debian version the port was made on
    tarball: Path  # what the package installs
    tarball_env: str  # a tarball of the user's own instead (then nothing is managed)
    example: str  # a version of the right form, for an error message

    @property
    def tarball_name(self) -> str:
        return self.tarball.name


LINUX_61 = Upstream("6.1", "linux-source-6.1", "SOURCE-VERSION",
                    Path("/usr/src/linux-source-6.1.tar.xz"), "SPFTEACH_LINUX_TARBALL",
                    "6.1.192-3")
LINUX_612 = Upstream("6.12", "linux-source-6.12", "SOURCE-VERSION-6.12",
                     Path("/usr/src/linux-source-6.12.tar.xz"), "SPFTEACH_LINUX612_TARBALL",
                     "6.12.118-1~deb12u1")
