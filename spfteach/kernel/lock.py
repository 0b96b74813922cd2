"""One build at a time per build tree.

Two ``make`` runs in the same ``O=`` directory corrupt each other (fixdep finds
its ``.d`` file gone, objects are deleted under the other's feet), and two
appliers would race on the source tree.  So the steps that write the build tree
hold an exclusive ``flock`` on ``<build>/.lock``; a second ``spfteach kernel``
command on the same tree says who holds it and waits.  Booting needs no lock:
QEMU reads the kernel and initramfs once, at start.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .runner import Progress


@contextmanager
def build_lock(build: Path, progress: Progress) -> Iterator[None]:
    build.mkdir(parents=True, exist_ok=True)
    path = build / ".lock"
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            progress.say(f"waiting for {holder}, which is using {build}")
            fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        f.truncate()
        f.write(f"spfteach kernel (pid {os.getpid()})\n")
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
            fcntl.flock(f, fcntl.LOCK_UN)
