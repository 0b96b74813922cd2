"""Build the guest: the port's C programs, linked static, as ``/init`` of an initramfs.

The guest programs in ``kernel/guest/`` (``init.c``, ``torture.c``,
``faultbench.c`` sharing ``common.h``) are one static binary, ``/init``: a static
binary needs no libc in the guest, and a single one keeps the initramfs small and
the boot fast under TCG.  When ``kernel/guest/Makefile`` exists it is the recipe
(``make OUT=<build>/guest``, which writes ``spfguest``: the guest's flags are the
port's business); otherwise every ``*.c`` is linked with ``gcc -static -O2
-pthread``.  The initramfs is written here (see :mod:`.initramfs`): ``/init``,
``/dev/console``, mount points, and a static busybox as ``/bin/sh`` when the host
has one.  The step is skipped when sources, compiler and busybox are unchanged.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

from . import initramfs, tools
from .errors import KernelError
from .layout import Layout
from .runner import Progress, run_logged
from .stamps import Stamp, digest

CFLAGS = ("-static", "-O2", "-pthread", "-Wall")
MAKE_OUTPUT = "spfguest"  # what kernel/guest/Makefile's default target writes into $(OUT)
INPUT_SUFFIXES = (".c", ".h", ".S", ".sh")


def sources(layout: Layout) -> list[Path]:
    src = layout.guest_src
    progs = sorted(src.glob("*.c")) if src.is_dir() else []
    if not progs:
        raise KernelError(f"no guest programs in {layout.rel(src)}: the guest needs at least an "
                          "init (*.c) that prints the JSON document and powers off")
    return progs


def is_static_elf(path: Path) -> bool:
    """True when ``path`` is an ELF64 with no program interpreter (runs without a libc)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:5] != b"\x7fELF\x02":
                return False
            phoff, = struct.unpack_from("<Q", head, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != 3  # PT_INTERP
               for i in range(phnum))


def busybox() -> Path | None:
    found = shutil.which("busybox")
    return Path(found) if found and is_static_elf(Path(found)) else None


def _inputs(layout: Layout) -> list[Path]:
    """What the guest binary depends on (not whatever else lies in the directory)."""
    return sorted(p for p in layout.guest_src.iterdir()
                  if p.is_file() and (p.suffix in INPUT_SUFFIXES or p.name == "Makefile"))


def compile_guest(layout: Layout, progress: Progress) -> tuple[Path, float]:
    """Run the port's Makefile, or gcc on every *.c; return the binary and the seconds."""
    progs = sources(layout)
    log = layout.logs / "guest.log"
    if (layout.guest_src / "Makefile").is_file():
        tools.require("make", "gcc", purpose="build the guest programs")
        seconds = run_logged(["make", "-B", "-C", str(layout.guest_src), f"OUT={layout.guest}"],
                             log=log, label="make guest", progress=progress)
        binary = layout.guest / MAKE_OUTPUT
        if not binary.is_file():
            raise KernelError(f"{layout.rel(layout.guest_src / 'Makefile')} ran but wrote no "
                              f"$(OUT)/{MAKE_OUTPUT}, which the driver packs as /init")
        return binary, seconds
    tools.require("gcc", purpose="build the guest programs")
    binary = layout.guest / "init"
    seconds = run_logged(["gcc", *CFLAGS, f"-I{layout.guest_src}", "-o", str(binary),
                          *map(str, progs)], log=log, label="gcc guest", progress=progress)
    return binary, seconds


def build_guest(layout: Layout, progress: Progress) -> Path:
    """Compile the guest and pack the initramfs unless up to date; return the initramfs."""
    sources(layout)
    cc = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout \
        if shutil.which("gcc") else ""
    bb = busybox()
    bb_id = f"{bb}:{bb.stat().st_size}:{bb.stat().st_mtime_ns}" if bb else "no busybox"
    key = digest([" ".join(CFLAGS), cc.splitlines()[0] if cc else "", bb_id, *_inputs(layout)])
    stamp = Stamp(layout.stamps, "guest")
    if stamp.matches(key) and layout.initramfs.is_file():
        return layout.initramfs
    stamp.clear()
    layout.guest.mkdir(parents=True, exist_ok=True)
    binary, seconds = compile_guest(layout, progress)
    if not is_static_elf(binary):
        raise KernelError(f"{binary} is not a static ELF: the guest has no libc, link with -static")
    entries = initramfs.base_entries() + [initramfs.file("init", binary.read_bytes())]
    if bb:
        entries += [initramfs.file("bin/busybox", bb.read_bytes()),
                    initramfs.symlink("bin/sh", "busybox")]
    initramfs.write(layout.initramfs, entries)
    stamp.write(key, binary=binary.name, busybox=bool(bb), seconds=round(seconds, 1))
    size = layout.initramfs.stat().st_size // 1024
    progress.say(f"guest: {binary.name} as /init, initramfs {size} KiB ({seconds:.1f} s)")
    return layout.initramfs
