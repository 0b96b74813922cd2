"""Where everything lives: the port in ``kernel/`` (inputs) and the build tree (outputs).

The build tree is large (1.5 GB of source, a few hundred MB of objects) and must
stay out of git's view, so it defaults to ``<repo>/kernel/build/`` (ignored by
``.gitignore``) and can be moved with ``$SPFTEACH_BUILD`` or ``--build-dir``.  The
port itself (``patches/``, ``configs/``, ``guest/``) defaults to ``<repo>/kernel``;
``$SPFTEACH_KERNEL_DIR`` or ``--kernel-dir`` points elsewhere, which is how the
tests drive the pipeline with a small fixture port.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")


@dataclass(frozen=True)
class Layout:
    """Paths of one pipeline: its inputs (``kernel_dir``, ``tarball``) and outputs (``build``)."""

    kernel_dir: Path
    build: Path
    tarball: Path = DEFAULT_TARBALL
    data: Path = REPO / "data"

    @classmethod
    def from_options(cls, build_dir: str | None = None, kernel_dir: str | None = None,
                     tarball: str | None = None) -> Layout:
        """Resolve command-line options, then environment variables, then defaults."""
        kdir = kernel_dir or os.environ.get("SPFTEACH_KERNEL_DIR") or str(REPO / "kernel")
        bdir = build_dir or os.environ.get("SPFTEACH_BUILD") or str(REPO / "kernel" / "build")
        tar = tarball or os.environ.get("SPFTEACH_LINUX_TARBALL") or str(DEFAULT_TARBALL)
        return cls(kernel_dir=Path(kdir).resolve(), build=Path(bdir).resolve(),
                   tarball=Path(tar))

    # --- inputs: the port ---
    @property
    def patches(self) -> Path:
        return self.kernel_dir / "patches"

    @property
    def series(self) -> Path:
        return self.patches / "series"

    @property
    def configs(self) -> Path:
        return self.kernel_dir / "configs"

    @property
    def guest_src(self) -> Path:
        return self.kernel_dir / "guest"

    # --- outputs: the build tree ---
    @property
    def src(self) -> Path:
        """The unpacked, patched source tree (kept clean: objects go to ``out``)."""
        return self.build / "linux"

    @property
    def saved(self) -> Path:
        """Pristine copies of the files the series touches, to undo it without re-unpacking."""
        return self.build / "pristine-files"

    @property
    def stamps(self) -> Path:
        return self.build / "stamps"

    @property
    def logs(self) -> Path:
        return self.build / "logs"

    def out(self, profile: str) -> Path:
        """``make O=`` directory of a profile (plain, debug, check): they never share objects."""
        return self.build / ("out" if profile == "plain" else f"out-{profile}")

    def bzimage(self, profile: str) -> Path:
        return self.out(profile) / "arch" / "x86" / "boot" / "bzImage"

    @property
    def guest(self) -> Path:
        """Static guest programs and the initramfs (the same for both kernels)."""
        return self.build / "guest"

    @property
    def initramfs(self) -> Path:
        return self.guest / "initramfs.cpio.gz"

    def rel(self, path: Path) -> str:
        """A path as a user would type it: relative to the repo when inside it."""
        try:
            return str(path.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(path)
