"""The series stays checkpatch-clean: `scripts/checkpatch.pl --strict` on each patch.

No errors anywhere; the warnings and CHECKs left are exactly the ones kernel/README.md
justifies, so a new one fails here until it is fixed or justified there.  Needs the
unpacked tree (for the script and its data files), so it runs with the kernel tests.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from spfteach.kernel.layout import REPO
from spfteach.kernel.patches import read_series

#: (warnings, checks) per patch that has any, as kernel/README.md explains them:
#: 0006, five CHECKs on mm.h prototypes that follow the `extern` style around them;
#: 0010, the existing VM_BUG_ON_VMA moved unchanged (WARNING) and two continuation
#: alignments kept as in the original; 0011, "spinlock_t definition without comment"
#: on a local pointer (a false positive).
JUSTIFIED = {"0006": (0, 5), "0010": (1, 2), "0011": (0, 1)}

TOTAL = re.compile(r"^total: (\d+) errors, (\d+) warnings, (?:(\d+) checks, )?\d+ lines checked",
                   re.M)


@pytest.mark.kernel
def test_every_patch_passes_checkpatch_strict(kernel_tree: Path) -> None:
    series = REPO / "kernel" / "patches" / "series"
    patches = [e.patch for e in read_series(series, "kernel/patches/series")]
    assert len(patches) >= 14
    seen = {}
    for patch in patches:
        # Run from the tree's top: checkpatch finds its data files (spelling.txt,
        # const_structs.checkpatch) and the tree's layout from there.
        r = subprocess.run(["perl", "scripts/checkpatch.pl", "--strict", str(patch)],
                           cwd=kernel_tree, capture_output=True, text=True, timeout=300)
        m = TOTAL.search(r.stdout)
        assert m, f"{patch.name}: no checkpatch summary:\n{r.stdout[-2000:]}{r.stderr[-2000:]}"
        errors, warnings, checks = int(m[1]), int(m[2]), int(m[3] or 0)
        assert errors == 0, f"{patch.name}:\n{r.stdout}"
        seen[patch.name[:4]] = (warnings, checks)
        assert (warnings, checks) == JUSTIFIED.get(patch.name[:4], (0, 0)), \
            f"{patch.name}: {warnings} warnings, {checks} checks; justify or fix:\n{r.stdout}"
    assert set(JUSTIFIED) <= set(seen)
