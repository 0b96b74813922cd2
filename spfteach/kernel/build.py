"""Build ``bzImage`` for a profile (plain or debug), each in its own ``make O=`` tree.

Objects live outside the source tree (``make O=<build>/out`` or ``out-debug``) so
the two kernels never overwrite each other's objects and switching between them
costs nothing.  ``make`` is skipped when the stamp says this exact configuration
and source were already built; ``--force`` runs it anyway (it then recompiles
only what changed, e.g. after you edited the tree by hand).
"""

from __future__ import annotations

import os

from . import tools
from .config import configure, profile
from .layout import Layout
from .runner import Progress, run_logged
from .stamps import Stamp, digest


def jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def build_kernel(layout: Layout, debug: bool, progress: Progress, force: bool = False,
                 njobs: int | None = None) -> float:
    """Configure and build the profile's bzImage; return the seconds make took (0 if skipped)."""
    tools.require(*tools.KERNEL_BUILD_TOOLS, purpose="build the kernel")
    tools.require_headers()
    config_key = configure(layout, debug, progress)
    applied = Stamp(layout.stamps, "apply").read() or {}
    key = digest([config_key, str(applied.get("key")), "bzImage"])
    stamp = Stamp(layout.stamps, f"bzimage-{profile(debug)}")
    image = layout.bzimage(debug)
    if not force and stamp.matches(key) and image.is_file():
        progress.say(f"{profile(debug)} kernel up to date: {image}")
        return 0.0
    stamp.clear()
    n = njobs or jobs()
    progress.say(f"make -j{n} bzImage ({profile(debug)} kernel; a clean build takes ~3 min "
                 "on 2 cores, a rebuild after a patch edit seconds to minutes)")
    seconds = run_logged(["make", "-C", str(layout.src), f"O={layout.out(debug)}", f"-j{n}",
                          "bzImage"],
                         log=layout.logs / f"build-{profile(debug)}.log",
                         label=f"make bzImage ({profile(debug)})", progress=progress)
    stamp.write(key, seconds=round(seconds, 1), image=str(image))
    progress.say(f"built {image} in {seconds:.0f} s")
    return seconds
