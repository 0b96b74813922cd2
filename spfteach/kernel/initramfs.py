"""Write a gzip'd ``newc`` cpio archive: the guest's root file system.

Written here rather than with ``cpio`` + ``find`` because the archive must hold
``/dev/console`` (a character device: the kernel opens it for init's stdin/out
before init runs, and without it init's output goes nowhere), and creating a
device node on the host needs root.  The archive is deterministic (fixed mtimes,
owners and inode numbers), so the same guest programs give the same bytes.
"""

from __future__ import annotations

import gzip
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Entry:
    name: str  # path inside the archive, without a leading '/'
    mode: int  # full st_mode: type bits | permissions
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def directory(name: str) -> Entry:
    return Entry(name, stat.S_IFDIR | 0o755)


def file(name: str, data: bytes, perm: int = 0o755) -> Entry:
    return Entry(name, stat.S_IFREG | perm, data)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, stat.S_IFLNK | 0o777, target.encode())


def chardev(name: str, major: int, minor: int, perm: int = 0o600) -> Entry:
    return Entry(name, stat.S_IFCHR | perm, rdev=(major, minor))


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 4)


def newc(entries: list[Entry]) -> bytes:
    """The uncompressed archive: one 110-byte ASCII header + name + data per entry."""
    out = bytearray()
    for ino, e in enumerate([*entries, Entry("TRAILER!!!", 0)], start=1):
        name = e.name.encode() + b"\0"
        nlink = 2 if stat.S_ISDIR(e.mode) else 1
        fields = (ino if e.mode else 0, e.mode, 0, 0, nlink if e.mode else 1, 0, len(e.data),
                  0, 0, e.rdev[0], e.rdev[1], len(name), 0)
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        out += header + name + _pad(len(header) + len(name))
        out += e.data + _pad(len(e.data))
    return bytes(out)


def write(path: Path, entries: list[Entry]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(newc(entries))
    tmp.replace(path)


def base_entries() -> list[Entry]:
    """The skeleton every guest needs: mount points and the console."""
    return [directory(d) for d in ("bin", "dev", "proc", "sys", "tmp")] + [
        chardev("dev/console", 5, 1), chardev("dev/null", 1, 3, 0o666)]
