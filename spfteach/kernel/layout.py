"""Where everything lives: the port in ``kernel/`` (inputs) and the build tree (outputs).

The build tree is large (1.5 GB of source, a few hundred MB of objects) and must
stay out of git's view, so it defaults to ``<repo>/kernel/build/`` (ignored by
``.gitignore``) and can be moved with ``$SPFTEACH_BUILD`` or ``--build-dir``.  The
port itself (``patches/``, ``configs/``, ``guest/``) defaults to ``<repo>/kernel``;
``$SPFTEACH_KERNEL_DIR`` or ``--kernel-dir`` points elsewhere, which is how the
tests drive the pipeline with a small fixture port.

A wheel installed without a checkout has no port: without ``--kernel-dir`` (or
``$SPFTEACH_KERNEL_DIR``) every command refuses in one line (:data:`NO_CHECKOUT`, what to do
instead), and with one the build tree defaults to ``<port>/build``, never site-packages.

An option given as the empty string (``--build-dir ''``) is an error: it is what
an unset shell variable expands to, and falling back to the default tree would
build somewhere the user did not ask for.  An empty environment variable
(``SPFTEACH_BUILD=``) counts as unset, as it does for most programs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .. import resources
from .errors import KernelError
from .options import shown
from .upstream import LINUX_61, LINUX_612, Upstream

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TARBALL = LINUX_61.tarball
DEFAULT_TARBALL_612 = LINUX_612.tarball

#: ``spfteach kernel`` in an installed wheel: the port is in a checkout, never in the package
NO_CHECKOUT = ("spfteach kernel builds the kernel from a checkout's kernel/ port, and this "
               "spfteach is installed as a package without one: students read the recorded "
               "runs the package ships (spfteach/data/kernel-bench/); the instructor runs "
               "`spfteach kernel ...` on a lab machine from a git checkout of spfteach "
               "(or gives a port with --kernel-dir)")
BUILD_ENV = "SPFTEACH_BUILD"
KERNEL_DIR_ENV = "SPFTEACH_KERNEL_DIR"
TARBALL_ENV = LINUX_61.tarball_env
TARBALL_612_ENV = LINUX_612.tarball_env
#: The profiles built from linux-source-6.12 (per-VMA locks on, its debug build, and off).
PROFILES_612 = ("v6.12", "v6.12-debug", "v6.12-novma")


def choose(option: str | None, flag: str, env: str, default: Path) -> str:
    """The option if given (never empty), else a non-empty ``$env``, else the default."""
    if option is not None:
        _check_text(option, flag, f"leave {flag} out for ${env} or the default ({default})")
        return option
    value = os.environ.get(env, "")
    if value:
        _check_text(value, f"${env}", f"unset it for the default ({default})")
    return value or str(default)


def _check_text(path: str, given_by: str, instead: str) -> None:
    """Refuse a path that cannot be what the user meant: blank, or a ``~`` nobody expanded."""
    if not path.strip():
        raise KernelError(f"{given_by} is {'empty' if not path else 'blank'}: give a "
                          f"directory, or {instead}")
    if path.startswith("~"):
        raise KernelError(f"{given_by} {shown(path, 80)} starts with ~, which only the shell "
                          "expands, and not inside quotes: write $HOME or the full path")


def origin(option: str | None, flag: str, env: str) -> str:
    """Which setting chose a path, for an error that says what to fix."""
    if option is not None:
        return flag
    return f"${env}" if os.environ.get(env) else "the default"


def _resolve(path: str, given_by: str) -> Path:
    """An absolute path without symlinks, or one line saying why there is none."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError) as err:  # RuntimeError: a symlink loop (Python < 3.13)
        raise KernelError(f"{given_by} {shown(path, 80)} cannot be resolved: "
                          f"{getattr(err, 'strerror', None) or err}") from None


@dataclass(frozen=True)
class Layout:
    """Paths of one pipeline: its inputs (``kernel_dir``, the tarballs) and outputs (``build``)."""

    kernel_dir: Path
    build: Path
    tarball: Path = DEFAULT_TARBALL
    data: Path = REPO / "spfteach" / "data"  # the checkout's copy, which bench records go to
    tarball_612: Path = DEFAULT_TARBALL_612

    @classmethod
    def from_options(cls, build_dir: str | None = None, kernel_dir: str | None = None,
                     tarball: str | None = None) -> Layout:
        """Resolve command-line options, then environment variables, then defaults."""
        if kernel_dir is None and not os.environ.get(KERNEL_DIR_ENV) \
                and resources.checkout() is None:
            raise KernelError(NO_CHECKOUT)
        kdir = choose(kernel_dir, "--kernel-dir", KERNEL_DIR_ENV, REPO / "kernel")
        # a package without a checkout builds beside the port it was given, not in site-packages
        build_default = REPO / "kernel" / "build" if resources.checkout() else Path(kdir) / "build"
        bdir = choose(build_dir, "--build-dir", BUILD_ENV, build_default)
        tar = tarball or os.environ.get(TARBALL_ENV) or str(DEFAULT_TARBALL)
        tar612 = os.environ.get(TARBALL_612_ENV) or str(DEFAULT_TARBALL_612)
        return cls(kernel_dir=_resolve(kdir, origin(kernel_dir, "--kernel-dir", KERNEL_DIR_ENV)),
                   build=_resolve(bdir, origin(build_dir, "--build-dir", BUILD_ENV)),
                   tarball=Path(tar), tarball_612=Path(tar612))

    def tarball_of(self, up: Upstream) -> Path:
        """The tarball this pipeline unpacks for ``up`` (the package's, or the user's own)."""
        return self.tarball_612 if up == LINUX_612 else self.tarball

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
    def vanilla_src(self) -> Path:
        """A second unpack of the same tarball, never patched: the baseline the cost is
        measured against (its own objects, in ``out-vanilla``)."""
        return self.build / "linux-vanilla"

    @property
    def src_612(self) -> Path:
        """linux-source-6.12 unpacked as Debian ships it: no patch of ours (per-VMA locks are
        mainline); the v6.12 kernels and the model's links to the 6.12 C read it."""
        return self.build / "linux-6.12"

    @property
    def novma_src(self) -> Path:
        """A hard-linked copy of ``src_612`` whose ``mm/Kconfig`` alone is a new file, with
        ``CONFIG_PER_VMA_LOCK`` turned from ``def_bool y`` to ``def_bool n`` (the option has no
        prompt, so no fragment can turn it off): the v6.12-novma kernel's tree."""
        return self.build / "linux-6.12-novma"

    @property
    def configs_612(self) -> Path:
        """Fragments only the 6.12 kernels merge (after the plain ones): a subdirectory, so
        the 6.1 profiles' ``configs/*.config`` never see an option 6.1 does not have."""
        return self.configs / "v6.12"

    def source(self, profile: str) -> Path:
        """The tree a profile is built from: vanilla 6.1, 6.12 (as shipped or without
        per-VMA locks), or the patched 6.1 one."""
        if profile == "vanilla":
            return self.vanilla_src
        if profile == "v6.12-novma":
            return self.novma_src
        return self.src_612 if profile in PROFILES_612 else self.src

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
        """``make O=`` directory of a profile (plain, debug, check, vanilla, spf-n): they never
        share objects."""
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
