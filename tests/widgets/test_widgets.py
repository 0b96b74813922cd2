"""The widgets, headless: scripted clicks and what they do to the widgets' state.

Outside a Jupyter kernel ipywidgets get a dummy comm, so ``button.click()``,
``observe`` and trait values work in plain pytest: these tests click the real
buttons and read the real traits (what the browser would be sent).  The browser
test (tests/browser/test_browser_widgets.py) checks that the page then shows them.
"""

from __future__ import annotations

import pytest

from spfteach import resources
from spfteach.csource.excerpts import load as load_excerpts
from spfteach.model.errors import UsageError
from spfteach.sched import ModelError, ScheduleError
from spfteach.session import Session
from spfteach.widgets import ExplorerPanel, RaceStepper, SeqcountTimeline, WalkView

MUTANTS = resources.read_json("mutants.json")


def stepper(*args, **kw) -> RaceStepper:
    s = RaceStepper(*args, **kw)
    _ = s.widget  # build the views: the tests click them
    return s


def test_step_buttons_advance_the_schedule_and_mark_the_c_line() -> None:
    s = stepper("fault-vs-munmap")
    assert s.schedule == []
    assert s.current_line(0) == "if (READ_ONCE(sysctl_speculative_page_fault) &&"
    assert s.current_line(1) == "if (mmap_write_lock_killable(mm))"
    assert s.undo_button.disabled  # nothing to undo yet
    s.step_buttons[0].click()
    assert s.schedule == [0]
    assert "<b>1</b> step taken" in s.schedule_label.value
    assert not s.undo_button.disabled
    for _ in range(30):
        s.step_buttons[0].click()
    assert s.schedule == [0] * 31
    assert s.current_line(0) == "anon_vma = READ_ONCE(vma->anon_vma);"
    # the panel shows the real function from the patched tree, the same line marked
    view = s.code[0]
    assert view.title.startswith("do_anonymous_page() — mm/memory.c")
    assert view.marked_text.strip() == s.current_line(0)
    ex = load_excerpts().function("mm/memory.c", "do_anonymous_page")
    assert view.lines == list(ex.lines) and view.first_line == ex.first_line
    assert view.lines[0].startswith("static vm_fault_t do_anonymous_page(")
    assert "▶ line" in view.note and "runs next" in view.note


def test_the_marked_line_follows_a_known_schedule_to_the_end() -> None:
    s = stepper("fault-vs-munmap")
    s.replay("0*31")
    s.end_buttons[1].click()  # munmap runs to its end
    assert s.reasons[1].value == "■ finished: 0 (handled)"
    assert s.step_buttons[1].disabled and s.end_buttons[1].disabled
    assert "finished" in s.step_buttons[1].tooltip
    assert s.current_line(1) == "mmap_write_unlock(mm);"  # the line it ran last
    assert "ran last" in s.code[1].note
    s.end_buttons[0].click()
    assert s.verdict is None
    assert s.session.over
    assert "Every thread finished and no invariant broke" in s.banner.value


def test_undo_is_the_replay_of_the_prefix_and_reset_starts_again() -> None:
    s = stepper("fault-vs-munmap")
    s.replay("0*20,1*3")
    before = s.run.machine.snapshot()
    s.step(0)
    s.undo_button.click()
    assert s.schedule == [0] * 20 + [1] * 3
    assert s.run.machine.snapshot() == before
    assert s.current_line(0) == Session("fault-vs-munmap", schedule="0*20,1*3") \
        .run.next_op(0).src.snippet or s.current_line(0)
    s.reset_button.click()
    assert s.schedule == []
    assert s.undo_button.disabled
    with pytest.raises(ScheduleError, match="nothing to undo"):
        s.undo()


def test_replay_from_the_box_and_a_bad_schedule_keeps_the_position() -> None:
    s = stepper("fault-vs-munmap")
    s.schedule_box.value = "0*23,1*15,0*3"
    s.replay_button.click()
    assert s.schedule == [0] * 23 + [1] * 15 + [0] * 3
    assert s.error.value == ""
    where = list(s.schedule)
    for bad, words in (("0*23,7", "no thread 7"), ("0,x", "bad schedule item"),
                       ("1*,1", "has finished")):
        s.schedule_box.value = bad
        s.replay_button.click()
        assert words in s.error.value, (bad, s.error.value)
        assert "Traceback" not in s.error.value
        assert s.schedule == where  # nothing lost
    s.step_buttons[0].click()  # the next good action clears the message
    assert s.error.value == ""


def test_a_blocked_thread_has_a_disabled_button_and_the_reason() -> None:
    s = stepper("fault-vs-munmap")
    # munmap takes mmap_lock for writing; the fault gives up speculating (the VMA's
    # sequence is odd) and, on the classic path, waits for mmap_lock
    s.replay("1*3,0*")
    st = s.session.status(0)
    assert st.state == "blocked", st
    assert st.reason == "waiting for mmap_lock, held by T1"
    assert s.step_buttons[0].disabled and s.end_buttons[0].disabled
    assert s.step_buttons[0].tooltip == "T0 cannot step: waiting for mmap_lock, held by T1"
    assert s.reasons[0].value == "‖ waiting for mmap_lock, held by T1"
    assert not s.step_buttons[1].disabled
    with pytest.raises(ScheduleError, match="blocked waiting for mmap_lock"):
        s.step(0)
    # a wait that is not a lock: the flusher waits for a CPU with IRQs off
    ipi = stepper("ipi-vs-ptl", schedule="0*16,1*5")
    assert ipi.session.status(1).reason == "waiting for TLB-flush IPI answer from cpu0"
    assert ipi.step_buttons[1].disabled


@pytest.mark.parametrize("mutant", ["maplock_vma_changed", "spinlock_trylock"])
def test_a_mutants_counterexample_wins(mutant: str) -> None:
    cx = MUTANTS["mutants"][mutant]["counterexample"]
    s = stepper(cx["scenario"], mutant=mutant)
    assert "make it break: find a schedule that violates " + cx["invariant"] in s.banner.value
    s.schedule_box.value = cx["schedule"]
    s.replay_button.click()
    assert s.verdict == f"{cx['invariant']}: {cx['message']}"
    assert s.won
    assert "You won" in s.banner.value and cx["invariant"] in s.banner.value
    assert "would have stopped it" in s.banner.value
    # the thread that broke it shows the line that did, not the one it would run next
    culprit = s.run.trace[s.session.violation.step]
    assert s.current_line(culprit.tid) == load_excerpts().function(
        culprit.src.file, culprit.src.function).text_at(
        load_excerpts().line_of(culprit.src)).strip()
    assert culprit.src.snippet in s.current_line(culprit.tid)
    assert s.reasons[culprit.tid].value.startswith(f"✖ broke {cx['invariant']} on this line")
    # the run is over: every step button says why
    assert all(b.disabled for b in s.step_buttons)
    s.step_buttons[0].disabled = False  # a stale front end clicks anyway
    s.step_buttons[0].click()
    assert "already broke an invariant" in s.error.value


def test_without_a_mutant_the_same_schedule_is_clean() -> None:
    cx = MUTANTS["mutants"]["maplock_vma_changed"]["counterexample"]
    s = stepper(cx["scenario"], schedule=cx["schedule"])
    assert s.verdict is None
    assert s.banner.value == "" or "no invariant broke" in s.banner.value


def test_an_error_inside_a_callback_is_shown_in_the_widget(monkeypatch) -> None:
    s = stepper("fault-vs-munmap")

    def broken(tid: int):
        raise KeyError("boom")

    monkeypatch.setattr(s.session, "step", broken)
    s.step_buttons[0].click()  # must not raise
    assert "internal error in spfteach" in s.error.value and "KeyError" in s.error.value

    def model_bug(tid: int):
        raise ModelError("model error (a bug in spfteach, not a verdict): T0 ...")

    monkeypatch.setattr(s.session, "step", model_bug)
    s.step_buttons[0].click()
    assert "a bug in spfteach, not a verdict" in s.error.value
    assert 'role="alert"' in s.error.value


def test_bad_arguments_are_one_line_usage_errors() -> None:
    with pytest.raises(UsageError, match="unknown scenario 'fault-vs-munmapp'; did you mean"):
        RaceStepper("fault-vs-munmapp")
    with pytest.raises(UsageError, match="unknown mutant"):
        RaceStepper("fault-vs-munmap", mutant="no_such_check")
    with pytest.raises(UsageError, match="branch of the normal path"):
        RaceStepper("fault-vs-munmap", mutant="spf_pte_none")
    with pytest.raises(UsageError, match="bad schedule item"):
        RaceStepper("fault-vs-munmap", schedule="0*x")
    with pytest.raises(UsageError, match="takes a seed"):
        WalkView("3")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="kernel address"):
        WalkView(3, address=0xFFFF800000000000)


def test_under_nbgrader_a_widget_is_one_line_of_text(monkeypatch) -> None:
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    s = RaceStepper("fault-vs-munmap", schedule="0*3")
    bundle = s._repr_mimebundle_()
    assert list(bundle) == ["text/plain"]
    assert bundle["text/plain"].count("\n") == 0
    assert bundle["text/plain"].startswith("RaceStepper(fault-vs-munmap): 3 steps")
    assert s._widget is None  # nothing interactive was built
    s.step(0)  # the Python API still works, for grading cells
    assert s.schedule == [0, 0, 0, 0]
    for w in (WalkView(1), ExplorerPanel("quiet"), SeqcountTimeline(s)):
        b = w._repr_mimebundle_()
        assert list(b) == ["text/plain"] and "\n" not in b["text/plain"]
        assert w._widget is None


def test_without_nbgrader_a_widget_renders_as_a_widget(monkeypatch) -> None:
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("NBGRADER_VALIDATING", raising=False)
    b = RaceStepper("quiet")._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in b


def test_every_control_has_a_description() -> None:
    """Keyboard and screen-reader users reach each control by its label or tooltip."""
    import ipywidgets as W

    s = stepper("fault-vs-munmap", mutant="maplock_vma_changed")
    walk = WalkView(1)
    panel = ExplorerPanel("fault-vs-munmap")
    for root in (s.widget, walk.widget, panel.widget):
        todo = [root]
        while todo:
            w = todo.pop()
            todo.extend(getattr(w, "children", ()))
            if isinstance(w, W.Button | W.Text | W.IntSlider | W.Dropdown):
                assert w.description, w
                assert w.tooltip or isinstance(w, W.Dropdown), w
                assert not isinstance(w, W.Button) or w.description.strip()


def test_the_timeline_follows_the_stepper() -> None:
    s = stepper("fault-vs-munmap")
    t = SeqcountTimeline(s)
    _ = t.widget
    assert t.redraws == 1 and bytes(t.image.value).startswith(b"\x89PNG")
    first = bytes(t.image.value)
    s.replay("0*8,1*")
    s.step(0)
    assert t.redraws == 3
    assert bytes(t.image.value) != first
    # the fault read the sequence at step 6; munmap's write section came after
    assert [(p.step, p.kind, p.thread) for p in t.points()] == [
        (6, "snapshot", "fault"), (10, "write_begin", "munmap"), (12, "write_end", "munmap")]
    s.undo()
    assert t.redraws == 4


def test_the_walk_goes_level_by_level_and_a_bad_address_is_a_message() -> None:
    w = WalkView(3)
    _ = w.widget
    assert w.revealed == 0 and w.depth == 4
    assert "Level 0 of 4 read" in w.table.value
    w.next_button.click()
    assert w.revealed == 1 and "continues to pt1" in w.table.value
    assert w.picture.value == ""
    w.all_button.click()
    assert w.complete and w.next_button.disabled
    assert "present 4 KiB page" in w.table.value
    assert w.picture.value.startswith("<svg") and "max-width:100%" in w.picture.value
    at = w.address
    for bad, words in (("0xffff800000000000", "kernel address"), ("hello", "cannot read"),
                       ("١٢٣", "cannot read"), ("0x800000000000", "")):
        w.address_box.value = bad
        w.go_button.click()
        assert w.error.value and "Traceback" not in w.error.value, bad
        assert words in w.error.value
        assert w.address == at  # the walk shown stays
    w.slider.value = 5
    assert w.address == w.pages[5] and w.revealed == 0 and w.error.value == ""


def test_the_explorer_panel_finds_and_loads_a_counterexample() -> None:
    p = ExplorerPanel("fault-vs-munmap")
    _ = p.widget
    p.choice.value = "maplock_vma_changed"
    p.explore_button.click()
    assert p.error.value == ""
    assert p.report is not None and "use-after-free" in p.report.counterexamples
    assert p.progress.value == p.progress.max == p.report.states
    assert "1 invariant(s) broken" in p.summary.value
    (row,) = p.rows.children
    row.children[0].click()  # Load into stepper
    assert p.stepper is not None and p.stepper.won
    lanes, shown = p.slot.children
    assert shown is p.stepper.widget
    assert bytes(lanes.value).startswith(b"\x89PNG")  # the counterexample's swim-lanes
    p.choice.value = ""
    p.explore_button.click()
    assert "no invariant broken" in p.summary.value and p.rows.children == ()


def test_the_same_race_under_per_vma_locks_shows_the_612_c() -> None:
    """design="per-vma": the fault read-locks its VMA (6.12's lines, from
    spfteach/data/c-excerpts-6.12.json), munmap waits in vma_start_write() until the fault is
    done."""
    s = stepper("fault-vs-munmap", design="per-vma")
    assert s.current_line(0) == "if (!(flags & FAULT_FLAG_USER))"
    assert s.code[0].title == "do_user_addr_fault() — arch/x86/mm/fault.c (6.12)"
    s.replay("0*6")  # through vma_start_read(): the VMA is read-locked
    assert "vm_lock" in s.session.run.machine.vmas[0].vm_lock.name
    assert 0 in s.session.run.machine.vmas[0].vm_lock.readers
    s.end_buttons[1].click()  # munmap runs until it waits for the fault's read lock
    assert s.current_line(1) == "down_write(&vma->vm_lock->lock);"
    assert s.step_buttons[1].disabled and "vma0.vm_lock" in s.reasons[1].value
    assert s.code[1].title == "vma_start_write() — include/linux/mm.h (6.12)"
    s.end_buttons[0].click()
    s.end_buttons[1].click()
    assert s.verdict is None and s.session.over
    with pytest.raises(UsageError, match="mutant of the spf design"):
        RaceStepper("fault-vs-munmap", mutant="spf_seq_retry", design="per-vma")
    with pytest.raises(UsageError, match="mutant of the per-vma design"):
        RaceStepper("fault-vs-munmap", mutant="vma_lock_detached")
