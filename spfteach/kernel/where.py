"""Where the kernel is built and booted: a lab machine with a checkout, not a student's hub.

Students work from the recorded runs the package ships (``spfteach/data/kernel-bench/``).
Building and booting the kernel takes root for apt, 2 GB of disk and 15-25 minutes of every
core: the instructor's job, on a lab machine, from a git checkout (the kernel port,
``kernel/``, is not in the package). Notebook 7's optional build cell asks :func:`not_here`
first, and ``spfteach kernel`` refuses the same way (:mod:`.layout`, :mod:`.validate`), each
in one line, before anything slow starts.
"""

from __future__ import annotations

from .. import resources

#: what to do instead, the end of every refusal
INSTEAD = ("this notebook's figures are the recorded runs above (spfteach/data/kernel-bench/); "
           "the instructor builds and boots the kernel on a lab machine from a git checkout "
           "of spfteach (`spfteach kernel test`, `spfteach kernel bench`)")


def not_here() -> str | None:
    """One line saying why the kernel is not built here, or None: a checkout, not on a hub."""
    if resources.checkout() is None:
        why = "this spfteach is installed as a package, without a checkout's kernel/ port"
    elif resources.on_hub():
        why = f"this is a JupyterHub server (${resources.HUB_ENV} is set)"
    else:
        return None
    return f"Not built here: {why}; {INSTEAD}."
