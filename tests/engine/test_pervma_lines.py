"""Under per-VMA locks every step names 6.12 (spfteach/model/pervma/lines.py), with no tree.

The kernel tests (tests/kernel/test_src_snippets.py) resolve those lines in linux-source-6.12
and hold their order; these hold, without a tree, that the table leaves no port line in a
per-VMA run but the few it keeps, and that the SPF design's steps are left alone.
"""

from __future__ import annotations

import random

from spfteach.csource.csrc import per_vma_steps
from spfteach.model.pervma import TREE
from spfteach.model.pervma.lines import BY_STEP_BEFORE, KEPT, LINES, line_612
from spfteach.model.task import Src
from spfteach.scenarios import SCENARIOS, get


def test_the_table_maps_port_lines_to_612_lines() -> None:
    assert all(p.tree == "" for p in LINES) and all(s.tree == TREE for s in LINES.values())
    assert len(LINES) >= 120
    # where the line depends on the step before, there is a line for any other step too
    assert set(BY_STEP_BEFORE) <= set(LINES)
    assert all(s.tree == TREE for alt in BY_STEP_BEFORE.values() for s in alt.values())
    # the exceptions are few, said, and not mapped
    assert len(KEPT) <= 3 and all(why for why in KEPT.values())
    assert not set(KEPT) & set(LINES)
    assert all(line_612(p, None) == p for p in KEPT)


def test_a_per_vma_run_names_612_but_the_kept_lines() -> None:
    """Every scenario, named schedules and seeded random ones: a port line left in a per-VMA run
    is one that lines.py keeps, and each one it keeps is visited (the list is not stale)."""
    port = {s for s in per_vma_steps() if s.tree != TREE}
    assert port == set(KEPT), sorted(map(str, port - set(KEPT)))


def test_the_spf_design_names_the_port() -> None:
    """The mapping is the per-VMA design's only: a run of the SPF design names our port."""
    for name in ("quiet", "fault-vs-munmap", "fault-vs-split", "present-ipi-vs-ptl"):
        run = SCENARIOS[name].new_run()
        rng = random.Random(0)
        while run.runnable():
            run.step(rng.choice(run.runnable()))
        assert all(s.src.tree == "" for s in run.trace), name


def test_the_zero_page_and_the_new_page_map_their_own_lines() -> None:
    """pte_map_lock() is one port line and two 6.12 lines: the read branch's and the write's."""
    locks: dict[str, set[Src]] = {}
    for name in ("quiet", "read-fault-vs-uffd-register"):
        run = get(name).with_design("per-vma").new_run()
        run.run_spec("")
        run.finish()
        locks[name] = {s.src for s in run.trace if s.src.function == "do_anonymous_page"
                       and "pte_offset_map_lock" in s.src.snippet}
    assert len(locks["quiet"]) == len(locks["read-fault-vs-uffd-register"]) == 1
    assert locks["quiet"] != locks["read-fault-vs-uffd-register"]
