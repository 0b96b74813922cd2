"""The scheduler: determinism, undo by replay, schedule errors; the seqcount protocol."""

from __future__ import annotations

import pytest

from spfteach.model.machine import Machine
from spfteach.model.mm_types import VM_FAULT_SIGSEGV
from spfteach.model.seqlock import (
    SeqCount,
    raw_read_seqcount,
    read_seqcount_retry,
    write_seqcount_begin,
    write_seqcount_end,
)
from spfteach.model.task import Src
from spfteach.scenarios import SCENARIOS, get
from spfteach.sched import Run, ScheduleError, format_schedule, parse_schedule


def _trace_value(run: Run) -> list:
    return [(s.tid, s.src, s.text, s.notes, s.changes, s.state) for s in run.trace]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_same_schedule_same_trace(name: str) -> None:
    scen = get(name)
    for spec in list(scen.schedules.values()) + [""]:
        a = scen.new_run().run_spec(spec).finish()
        b = scen.new_run().run_spec(spec).finish()
        assert _trace_value(a) == _trace_value(b)
        assert a.results == b.results
        # and replaying the recorded schedule as a plain list gives it again
        c = scen.new_run().run_spec(a.schedule)
        assert _trace_value(c) == _trace_value(a)


def test_undo_is_replay_of_the_prefix() -> None:
    scen = get("fault-vs-munmap")
    full = scen.new_run().run_spec("0*10,1*5,0*3").finish()
    for cut in (0, 1, 7, 15, len(full.schedule) - 1):
        undone = scen.new_run().run_spec(full.schedule[:cut])
        assert _trace_value(undone) == _trace_value(full)[:cut]
        state = undone.trace[-1].state if undone.trace else undone.initial_state
        assert state == (full.trace[cut - 1].state if cut else full.initial_state)


def test_schedules_change_the_outcome() -> None:
    scen = get("fault-vs-munmap")
    wins = scen.new_run().run_spec(scen.schedules["fault-wins"])
    loses = scen.new_run().run_spec(scen.schedules["munmap-before-lock"]).finish()
    assert wins.task(0).spf_result == 0
    assert loses.task(0).spf_result != 0
    # the fault that won mapped its page before the unmap; the one that lost finds
    # no VMA on the classic path: SIGSEGV
    assert wins.results[0] == 0 and loses.results[0] == VM_FAULT_SIGSEGV
    assert wins.schedule != loses.schedule


def test_schedule_errors_say_what_to_do() -> None:
    run = get("fault-vs-munmap").new_run()
    with pytest.raises(ScheduleError, match="no thread 7: this scenario has threads 0, 1"):
        run.step(7)
    run.run_spec("0*")
    with pytest.raises(ScheduleError, match="thread 0 .fault. has finished; runnable now: 1"):
        run.step(0)
    # a blocked thread: munmap holds mmap_lock for writing, the classic fault waits
    run = get("fault-vs-munmap").new_run()
    run.run_spec("1*3,0*")
    assert not run.is_enabled(0)
    with pytest.raises(ScheduleError, match="is blocked waiting for mmap_lock"):
        run.step(0)
    with pytest.raises(ScheduleError, match="bad schedule item"):
        parse_schedule("0,x")


def test_schedule_notation() -> None:
    assert parse_schedule("0*3,1*,0") == [(0, 3), (1, None), (0, 1)]
    assert format_schedule([0, 0, 0, 1, 0]) == "0*3,1,0"


def _seq_program(t, s: SeqCount, out: list):
    src = Src("include/linux/seqlock.h", "test", "x")
    start = yield from raw_read_seqcount(t, s, src)
    out.append(start)
    out.append((yield from read_seqcount_retry(t, s, start, src)))


def _writer(t, s: SeqCount):
    src = Src("include/linux/seqlock.h", "test", "x")
    yield from write_seqcount_begin(t, s, src)
    yield from write_seqcount_end(t, s, src)


def test_seqcount_protocol() -> None:
    def run(schedule: list[int]) -> list:
        k = Machine(ncpus=2)
        s = SeqCount("s", 4)
        out: list = []
        r0, r1 = k.add_task("reader"), k.add_task("writer")
        Run(k, [(r0, _seq_program(r0, s, out)), (r1, _writer(r1, s))]).run_spec(schedule)
        return [s.sequence, *out]

    # reader alone, then writer: count 4 -> 6, the reader saw 4 and no retry
    assert run([0, 0, 1, 1]) == [6, 4, False]
    # writer inside (odd) when the reader samples: raw read does not wait, it sees 5;
    # the writer leaves before the re-read: retry says the data moved
    assert run([1, 0, 1, 0]) == [6, 5, True]
    # a whole write section between sample and re-read: retry
    assert run([0, 1, 1, 0]) == [6, 4, True]
    # a reader that samples inside and re-reads inside sees no change: that is why
    # the speculative path must reject an odd sample itself
    assert run([1, 0, 0, 1]) == [6, 5, False]


def test_a_blocked_step_declares_what_it_waits_on() -> None:
    """Who holds a thread up comes from the step's declaration (spfteach/model/wait.py),
    read from the state, not from the snapshot's strings: a lock and its holder, the
    answers an IPI still waits for."""
    from spfteach.model.wait import OnIpi, OnLock
    from spfteach.session import Session

    s = Session("seq-odd-at-start")
    s.run_to_end(0)
    w = s.run.next_op(0).waits_on
    assert isinstance(w, OnLock) and w.mode == "read" and not w.ready()
    assert (w.what, w.holders()) == ("mmap_lock", "T1")
    assert s.status(0).reason == "waiting for mmap_lock, held by T1"
    # the deadlock of notebook 06: T0 spins on the PTE lock T1 holds, T1 waits for
    # the TLB-flush answer of T0's CPU, which has IRQs off
    stuck = Session("ipi-vs-ptl", mutant="trylock_is_lock", schedule="0*37,1*5")
    w0, w1 = stuck.run.next_op(0).waits_on, stuck.run.next_op(1).waits_on
    assert isinstance(w0, OnLock) and w0.holders() == "T1" and not w0.ready()
    assert isinstance(w1, OnIpi) and w1.holders() == "cpu0" and not w1.ready()
    assert w1.what == "TLB-flush IPI answer from cpu0"


@pytest.mark.parametrize("name", ["fault-vs-munmap", "fault-vs-mprotect", "alone-prot-none"])
def test_every_guard_a_step_evaluates_is_a_record(name: str) -> None:
    """The guards a step evaluated are data on the step (Step.guards), one per guard its
    notes speak of, with and without a mutant that removes one: the pictures read the
    records, never the words."""
    from spfteach.model import checks

    for mutant in ([], ["maplock_vma_changed"], ["spf_read_access", "spf_write_access"]):
        for spec in list(get(name).schedules.values()) + [""]:
            run = get(name).new_run(mutant).run_spec(spec).finish()
            for s in run.trace:
                spoken = [n.split(":")[0].removeprefix("check ") for n in s.notes
                          if n.startswith("check ")]
                assert [g.name for g in s.guards] == spoken, (name, s.index)
                for g in s.guards:
                    assert g.returns.startswith("VM_FAULT_")
                    assert g.removed == (g.name in mutant)
                    assert checks.get(g.name).kind in ("guard", "scope")
