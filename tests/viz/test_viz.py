"""The pictures: the data behind each one on known runs, SVG fit for a page, and
every figure rendering to PNG and SVG."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from matplotlib.figure import Figure

from spfteach import resources
from spfteach.model.machine import Machine
from spfteach.scenarios import SCENARIOS
from spfteach.sched import Run, Violation
from spfteach.viz import steps, svgtext
from spfteach.viz.counterexample import counterexample_figure, replay
from spfteach.viz.lanes import function_runs, lanes_data, swim_lanes
from spfteach.viz.render import to_png, to_svg
from spfteach.viz.seqcount import SeqPoint, odd_windows, seqcount_points, seqcount_timeline
from spfteach.viz.vmamap import size_str, vma_bars, vma_map

MUTANTS = resources.read_json("mutants.json")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` missing")


def _run(scenario: str, schedule: str, mutants: tuple[str, ...] = ()) -> Run:
    return SCENARIOS[scenario].new_run(mutants=mutants).run_spec(schedule).finish()


def _counterexample(mutant: str) -> tuple[str, Violation, dict]:
    ce = MUTANTS["mutants"][mutant]["counterexample"]
    run = SCENARIOS[ce["scenario"]].new_run(mutants=[mutant]).run_spec(ce["schedule"])
    return ce["scenario"], run.violations[0], ce


# --- seqcount ------------------------------------------------------------------


def test_timeline_points_of_munmap_before_lock() -> None:
    """munmap() comes in after the walk: its write section moves the count 0→1→2,
    and the lock helper's vma_has_changed() sees it and gives up."""
    sched = SCENARIOS["fault-vs-munmap"].schedules["munmap-before-lock"]
    run = _run("fault-vs-munmap", sched)
    pts = [(p.step, p.kind, p.thread, p.value, p.detail) for p in seqcount_points(run)]
    assert pts == [
        (6, "snapshot", "fault", 0, ""),
        (22, "validate", "fault", 0, "unchanged"),  # read_seqcount_retry()
        (24, "validate", "fault", 0, "unchanged"),  # handle_pte_fault()'s vma_has_changed()
        (33, "write_begin", "munmap", 1, ""),
        (35, "write_end", "munmap", 2, ""),
        (51, "validate", "fault", 2, "changed"),
        (51, "abort", "fault", 2, "maplock_vma_changed"),
    ]
    assert odd_windows(run, 0) == [(33, 35)]
    by_step = {p.step: p for p in seqcount_points(run)}
    assert by_step[6].function == "handle_speculative_fault"
    assert by_step[24].function == "handle_pte_fault"


def test_an_abort_by_a_guard_that_is_no_sequence_test() -> None:
    """spf_p4d gives up on the p4d munmap() emptied: the reader's decision, marked."""
    run = _run("fault-vs-munmap", "0*8,1*,0*")
    aborts = [p for p in seqcount_points(run, 0) if p.kind == "abort"]
    assert aborts == [SeqPoint(34, "abort", "fault", 2, 0, "handle_speculative_fault",
                               "spf_p4d")]
    assert odd_windows(run, 0) == [(10, 12)]


def test_timeline_without_a_reader_and_odd_at_the_start() -> None:
    first = _run("fault-vs-munmap", SCENARIOS["fault-vs-munmap"].schedules["munmap-first"])
    assert [p.kind for p in seqcount_points(first)] == ["write_begin", "write_end"]
    odd = _run("seq-odd-at-start", "0*")
    pts = seqcount_points(odd)
    assert [(p.kind, p.value, p.detail) for p in pts[:2]] == [
        ("snapshot", 1, ""), ("abort", 1, "spf_seq_odd")]
    assert odd_windows(odd, 0)[0][0] == -1  # odd before the first step


def test_the_phrases_read_off_the_steps_are_the_models() -> None:
    """steps.py matches the words of Task.check and seqlock: a change there must
    show here, not silently empty the pictures."""
    run = _run("fault-vs-munmap", "0*8,1*,0*")
    assert steps.fired(run.trace[34]) == [("spf_p4d", "VM_FAULT_RETRY")]
    assert steps.seq_read(run.trace[6]) == ("snapshot", 0)
    assert steps.seq_writes(run.trace[10]) == [(0, "write_begin", 1)]
    sigsegv = _run("alone-read-only", "0*")
    assert any(code == "VM_FAULT_SIGSEGV" for s in sigsegv.trace for _, code in steps.fired(s))
    _, v, ce = _counterexample("maplock_vma_changed")
    run = replay(ce["scenario"], v, ["maplock_vma_changed"])
    assert [s.index for s in run.trace if steps.removed(s)] == [v.step - 1]


# --- lanes -------------------------------------------------------------------------


@pytest.mark.parametrize("mutant", ["maplock_vma_changed", "hpf_vma_changed"])
def test_lanes_mark_a_mutants_violating_step(mutant: str) -> None:
    scenario, v, ce = _counterexample(mutant)
    assert v.step == ce["steps"] - 1 and v.invariant == ce["invariant"]
    run = SCENARIOS[scenario].new_run(mutants=[mutant]).run_spec(v.schedule)
    boxes = lanes_data(run)
    assert [b.step for b in boxes] == list(range(len(run.trace)))
    marked = [b for b in boxes if b.violations]
    assert [(b.step, b.violations, b.kind) for b in marked] == [
        (v.step, (ce["invariant"],), "violation")]
    removed = {name for b in boxes for name in b.removed}
    assert removed == set(ce["would_have_stopped_it"])
    assert all(b.tid == s.tid and b.snippet == s.src.snippet for b, s in zip(boxes, run.trace,
                                                                              strict=True))


def test_lanes_data_names_steps_and_aborts() -> None:
    run = _run("fault-vs-munmap", SCENARIOS["fault-vs-munmap"].schedules["munmap-before-lock"])
    boxes = lanes_data(run)
    assert boxes[51].aborts == ("maplock_vma_changed",) and boxes[51].kind == "abort"
    assert boxes[6].label == "handle_speculative_fault: seq = raw_read_seqcou…"
    assert all(len(b.label) <= 48 for b in boxes)
    runs = function_runs(boxes)
    assert runs[0] == (0, 0, 0, "do_user_addr_fault")
    assert (0, 1, 4, "get_vma") in runs
    assert sum(last - first + 1 for _, first, last, _ in runs) == len(boxes)


# --- vma map -------------------------------------------------------------------


def test_vma_bars_after_munmap_and_inside_a_write() -> None:
    run = SCENARIOS["fault-vs-munmap"].new_run().run_spec("0*8,1*3")
    bars = {b.vma: b for b in vma_bars(run.machine)}
    assert bars[0].state == "tree" and bars[0].sequence == 1 and bars[0].writer_inside
    assert bars[0].refs == 2  # the tree's and the fault's
    run.finish()
    bars = {b.vma: b for b in vma_bars(run.machine)}
    assert (bars[0].state, bars[0].sequence, bars[0].writer_inside) == ("freed", 2, False)
    assert [b.state for b in vma_bars(run.machine)] == ["tree", "freed"]
    assert size_str(0x10000) == "64 KiB" and size_str(3 << 29) == "1.5 GiB"


# --- SVG for a page -------------------------------------------------------------


def _ids(svg: str) -> set[str]:
    return set(re.findall(r'\sid="([^"]+)"', svg))


def _refs(svg: str) -> set[str]:
    return (set(re.findall(r"url\(#([^)]+)\)", svg))
            | set(re.findall(r'href="#([^"]+)"', svg)))


def _root(svg: str) -> str:
    m = re.search(r"<svg\b[^>]*>", svg)
    assert m is not None
    return m.group(0)


@needs_dot
def test_walk_svg_fits_the_cell_and_has_ids_of_its_own() -> None:
    from spfteach.viz.walk import walk_svg

    k = SCENARIOS["fault-vs-munmap"].new_run().machine
    a = walk_svg(k, 0x7F0000001000, id_prefix="wa-")
    b = walk_svg(k, 0x7F0000001000, id_prefix="wb-")
    for svg, prefix in ((a, "wa-"), (b, "wb-")):
        root = _root(svg)
        assert svg.startswith("<svg")  # no XML prolog inside an HTML page
        assert 'style="max-width:100%;height:auto"' in root
        assert "viewBox=" in root and "height=" not in root
        assert {"graph0", "node1", "edge1"} <= {i[len(prefix):] for i in _ids(svg)}
        assert all(i.startswith(prefix) for i in _ids(svg))
        assert _refs(svg) <= _ids(svg)
        ET.fromstring(svg)  # still well-formed
    assert not _ids(a) & _ids(b)
    fresh = walk_svg(k, 0x7F0000001000), walk_svg(k, 0x7F0000001000)
    assert not _ids(fresh[0]) & _ids(fresh[1])
    with pytest.raises(ValueError, match="XML name"):
        walk_svg(k, 0x7F0000001000, id_prefix="1 bad")


def test_prefix_ids_renames_definitions_and_references() -> None:
    svg = ('<?xml version="1.0"?>\n<svg width="100pt" height="50pt" '
           'xmlns:xlink="http://www.w3.org/1999/xlink"><defs><clipPath id="c1"/>'
           '<path id="g"/></defs><g clip-path="url(#c1)"><use xlink:href="#g"/>'
           '<a href="#elsewhere"/></g></svg>')
    out = svgtext.inline_svg(svg, "p-")
    assert out.startswith("<svg") and 'viewBox="0 0 100 50"' in _root(out)
    assert 'width="100pt"' in _root(out) and "height=" not in _root(out)
    assert 'url(#p-c1)' in out and 'xlink:href="#p-g"' in out
    assert 'href="#elsewhere"' in out  # not an id of this picture: left alone


def test_figure_svg_fits_and_two_figures_share_no_ids() -> None:
    run = _run("fault-vs-munmap", "0*8,1*,0*")
    a = to_svg(seqcount_timeline(run), id_prefix="ta-")
    b = to_svg(seqcount_timeline(run))
    assert "max-width:100%" in _root(a) and "max-width:100%" in _root(b)
    assert _ids(a) and not _ids(a) & _ids(b)
    assert _refs(a) <= _ids(a) and _refs(b) <= _ids(b)


# --- every figure renders --------------------------------------------------------


def _figures() -> dict[str, Figure]:
    munmap = _run("fault-vs-munmap", "0*31,1*,0*")
    long = _run("fault-vs-anon-vma", "0*33,1*,0*")
    scenario, v, _ = _counterexample("maplock_vma_changed")
    return {
        "timeline": seqcount_timeline(munmap, highlight=40),
        "timeline-no-reader": seqcount_timeline(_run("fault-vs-munmap", "1*,0*")),
        "timeline-odd-at-start": seqcount_timeline(_run("seq-odd-at-start", "0*")),
        "lanes": swim_lanes(munmap, highlight=3),
        "lanes-long": swim_lanes(long),
        "vma-map": vma_map(munmap.machine),
        "vma-map-writer-inside": vma_map(_run("fault-vs-mremap", "0*3,1*12").machine),
        "vma-map-empty": vma_map(Machine()),
        "counterexample": counterexample_figure(scenario, v, mutants=["maplock_vma_changed"]),
    }


def test_every_figure_renders_to_png_and_svg() -> None:
    figs = _figures()
    assert len(_run("fault-vs-anon-vma", "0*33,1*,0*").trace) > 90
    for name, fig in figs.items():
        png = to_png(fig)
        assert png[:8] == b"\x89PNG\r\n\x1a\n", name
        svg = to_svg(fig, id_prefix=f"{name}-")
        assert svg.startswith("<svg") and "max-width:100%" in _root(svg), name
        ET.fromstring(svg)


def test_a_counterexample_that_does_not_replay_is_refused() -> None:
    scenario, v, _ = _counterexample("maplock_vma_changed")
    with pytest.raises(ValueError, match="is it the counterexample's scenario and mutants"):
        counterexample_figure(scenario, v)  # without the mutant munmap() wins cleanly


def test_importing_the_pictures_imports_no_jupyter() -> None:
    code = ("import sys, spfteach.viz as v; v.seqcount_timeline; v.swim_lanes; v.vma_map; "
            "v.counterexample_figure; v.walk_svg; v.to_png; "
            "bad = [m for m in ('ipywidgets', 'IPython', 'matplotlib.pyplot') "
            "if m in sys.modules]; "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_the_memory_order_picture_shows_both_orders() -> None:
    """Notebook 03's picture: two panels, the model's order (the torn read retried) and the
    weakly ordered one (a = 1 seen before seq = 1, the torn pair returned), with each load
    pointing at the store it reads."""
    from spfteach.viz import message_passing_figure, to_png
    from spfteach.viz.memorder import SC_READER, WEAK_READER, WEAK_WRITER

    fig = message_passing_figure()
    left, right = fig.axes
    texts = {ax: [t.get_text() for t in ax.texts] for ax in (left, right)}
    assert "seq moved: retry" in texts[left] and "seq did not move:\nreturns (1, 0)" in texts[
        right]
    assert [label for _, label, _ in WEAK_WRITER][1:3] == ["a = 1", "seq = 1"]
    # every load but the verdict reads from a store of its panel
    for reader, ax in ((SC_READER, left), (WEAK_READER, right)):
        arrows = [c for c in ax.get_children() if type(c).__name__ == "Annotation"]
        assert len(arrows) == len([e for e in reader if e[2]])
    assert len(to_png(fig)) > 20_000


def test_the_state_panel_shows_each_designs_own_vma_fields() -> None:
    """Under SPF the VMA table shows the seqcount and the reference count; under per-VMA
    locks, whose fault never moves them, the VMA's lock sequence instead."""
    from spfteach.viz.statepanel import state_html

    scen = SCENARIOS["fault-vs-munmap"]
    spf = state_html(scen.new_run(record=False).machine.snapshot(), set())
    pv = state_html(scen.with_design("per-vma").new_run(record=False).machine.snapshot(), set())
    assert "<th>vm_sequence</th>" in spf and "<th>vm_ref_count</th>" in spf
    assert "vm_lock_seq" not in spf and "mm_lock_seq" not in spf
    assert "<th>vm_lock_seq</th>" in pv and "mm_lock_seq" in pv
    assert "vm_sequence" not in pv and "vm_ref_count" not in pv
