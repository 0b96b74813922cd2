"""Build a profile: ``bzImage`` (plain or debug), or the compile check, each in its own ``O=``.

Objects live outside the source tree (``make O=<build>/out``, ``out-debug``,
``out-check``) so the kernels never overwrite each other's objects and switching
between them costs nothing.  ``make`` is skipped when the stamp says this exact
configuration and series were already built; ``--force`` runs it anyway (it then
recompiles only what changed, e.g. after you edited the tree by hand).

The compile check configures ``defconfig`` + ``compile-check.config`` (THP,
userfaultfd, NUMA balancing, memcg, soft-dirty...) and compiles only the
directories the series touches: tinyconfig compiles those paths out, so without
it a broken ``#ifdef CONFIG_TRANSPARENT_HUGEPAGE`` branch would go unseen.
"""

from __future__ import annotations

import os

from . import tools
from .config import configure
from .layout import Layout
from .runner import Progress, run_logged
from .stamps import Stamp, digest

#: What the compile check compiles (after ``make prepare``): where the series lives.
CHECK_TARGETS = ("mm/", "fs/userfaultfd.o", "fs/proc/", "kernel/fork.o", "arch/x86/mm/")


def jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _make(layout: Layout, prof: str, targets: tuple[str, ...], progress: Progress, force: bool,
          njobs: int | None, what: str) -> float:
    """Configure, then ``make targets`` unless the stamp says done; the seconds make took."""
    tools.require(*tools.KERNEL_BUILD_TOOLS, purpose="build the kernel")
    tools.require_headers()
    config_key = configure(layout, prof, progress)
    # The vanilla tree has no series: its objects do not depend on the patches.
    applied = {} if prof == "vanilla" else Stamp(layout.stamps, "apply").read() or {}
    key = digest([config_key, str(applied.get("key")), *targets])
    stamp = Stamp(layout.stamps, f"make-{prof}")
    if not force and stamp.matches(key):
        progress.say(f"{what} up to date")
        return 0.0
    stamp.clear()
    n = njobs or jobs()
    progress.say(f"make -j{n} {' '.join(targets)} ({what})")
    seconds = run_logged(["make", "-C", str(layout.source(prof)), f"O={layout.out(prof)}", f"-j{n}",
                          *targets],
                         log=layout.logs / f"build-{prof}.log", label=f"make ({prof})",
                         progress=progress)
    log = layout.logs / f"build-{prof}.log"
    warnings = sum("warning:" in line for line in log.read_text(errors="replace").splitlines())
    stamp.write(key, seconds=round(seconds, 1), targets=list(targets), warnings=warnings)
    note = f"; {warnings} compiler warning(s), see {log}" if warnings else ", no warnings"
    progress.say(f"{what}: done in {seconds:.0f} s{note}")
    return seconds


def build_kernel(layout: Layout, prof: str, progress: Progress, force: bool = False,
                 njobs: int | None = None) -> float:
    """The profile's bzImage (a clean build ~3 min at -j2; after a patch edit, seconds)."""
    if not layout.bzimage(prof).is_file():
        force = True
    return _make(layout, prof, ("bzImage",), progress, force, njobs,
                 f"{prof} kernel {layout.bzimage(prof)}")


def compile_check(layout: Layout, progress: Progress, force: bool = False,
                  njobs: int | None = None) -> float:
    """defconfig + compile-check.config, ``make prepare`` and the series' directories."""
    return _make(layout, "check", ("prepare", *CHECK_TARGETS), progress, force, njobs,
                 "compile check (defconfig + THP, USERFAULTFD, NUMA_BALANCING...)")
