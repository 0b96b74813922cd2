"""spfteach.grading: reference answers get full marks, plausible wrong ones get a
counterexample, and the grading holds (a loop, an exception, a monkeypatched notebook).
What the jail itself refuses is tests/grading/test_jail.py; attacks through nbgrader are
tests/grading/test_course.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import spfteach.explore.search
import spfteach.sched
from spfteach import grading, resources
from spfteach.explore.search import explore
from spfteach.grading import exercises
from spfteach.model.machine import Machine
from spfteach.scenarios import get
from tests.paths import ROOT

REFERENCE = """\
def vma_has_changed(vm_sequence_now, seq_at_start, vm_detached):
    return vm_detached or vm_sequence_now != seq_at_start
"""


def _vma(body: str) -> str:
    return f"def vma_has_changed(vm_sequence_now, seq_at_start, vm_detached):\n{body}\n"


#: plausible wrong answers -> their points (of 6)
WRONG_VMA = {
    "ignores vm_detached": (_vma("    return vm_sequence_now != seq_at_start"), 4),
    "masks the odd bit": (_vma("    return vm_detached or "
                               "(vm_sequence_now & ~1) != (seq_at_start & ~1)"), 4),
    "a writer is one step": (_vma("    return vm_detached or vm_sequence_now > seq_at_start + 1"),
                             4),
}
#: held out: constant, trivial and one-scenario answers -> their points, a third at most
HELD_OUT_VMA = {
    "always False": (_vma("    return False"), 0),
    "always True": (_vma("    return True"), 0),
    "only vm_detached (one scenario)": (_vma("    return vm_detached"), 2),
    "reads, never decides": (_vma("    x = (vm_sequence_now, seq_at_start, vm_detached)\n"
                                  "    return bool(x)"), 0),
    "only an odd count": (_vma("    return vm_sequence_now % 2 == 1"), 0),
}
#: right in other words: the count only ever goes up
EQUIVALENT_VMA = [_vma("    return vm_detached or vm_sequence_now > seq_at_start"),
                  _vma("    if vm_detached:\n        return True\n"
                       "    return not vm_sequence_now == seq_at_start")]


# --- the model's hook ---------------------------------------------------------------

def test_no_override_changes_nothing() -> None:
    """Without an override the model is the model: the figures spfteach/data/mutants.json
    recorded, and the reference answer as an override reaches the same verdict."""
    assert Machine().override == {}
    recorded = resources.read_json("mutants.json")["scenarios"]
    rep = explore(get("fault-vs-munmap"))
    assert (rep.states, rep.executions, len(rep.counterexamples)) == (
        recorded["fault-vs-munmap"]["states"], recorded["fault-vs-munmap"]["executions"], 0)
    same = explore(get("fault-vs-munmap").with_override({
        "vma_has_changed": lambda now, start, detached: detached or now != start}))
    assert same.verdict() == rep.verdict()


# --- vma_has_changed ----------------------------------------------------------------

def test_vma_reference_full_marks() -> None:
    r = grading.grade_vma_has_changed(REFERENCE)
    assert (r.points, r.max_points, r.verdict) == (6, 6, "pass"), r.feedback


@pytest.mark.parametrize("src", EQUIVALENT_VMA)
def test_vma_right_in_other_words_is_right(src: str) -> None:
    assert grading.grade_vma_has_changed(src).points == 6


def test_vma_reference_as_a_function() -> None:
    def vma_has_changed(vm_sequence_now: int, seq_at_start: int, vm_detached: bool) -> bool:
        return vm_detached or vm_sequence_now != seq_at_start
    assert grading.grade_vma_has_changed(vma_has_changed).verdict == "pass"


@pytest.mark.parametrize("name", sorted(WRONG_VMA))
def test_vma_wrong_answers_get_a_counterexample(name: str) -> None:
    src, points = WRONG_VMA[name]
    r = grading.grade_vma_has_changed(src)
    assert r.points == points, r.feedback
    fb = r.feedback
    assert "breaks " in fb and "shortest schedule: " in fb and 'RaceStepper("' in fb, fb
    for p in r.parts:
        if 'RaceStepper("' in p.feedback:
            # a schedule the stepper can load: valid on the port as it is
            scen, sched = re.search(r'RaceStepper\("([^"]+)", schedule="([^"]+)"\)',
                                    p.feedback).groups()
            get(scen).new_run().run_spec(sched)
    print(f"{name}: {r.points:g}/{r.max_points:g}")


@pytest.mark.parametrize("name", sorted(HELD_OUT_VMA))
def test_vma_held_out_answers_score_a_third_at_most(name: str) -> None:
    src, points = HELD_OUT_VMA[name]
    r = grading.grade_vma_has_changed(src)
    assert r.points == points <= r.max_points / 3, r.feedback


def test_vma_always_gives_up_earns_nothing() -> None:
    r = grading.grade_vma_has_changed(_vma("    return True"))
    assert r.verdict == "fail" and r.points == 0, r.feedback
    assert all("safe and useless" in p.feedback for p in r.parts)


def test_vma_exception_names_it_and_its_line() -> None:
    src = _vma("    x = vm_sequence_now - seq_at_start\n    return 1 / (x - x) > 0")
    r = grading.grade_vma_has_changed(src)
    assert r.points == 0
    fb = r.parts[0].feedback
    assert fb.startswith("ZeroDivisionError: division by zero at line 3 of your code: "
                         "return 1 / (x - x) > 0"), fb
    assert "Traceback" not in r.feedback and "spfteach/" not in r.feedback


def test_vma_not_a_bool_and_imports_change_nothing() -> None:
    """A 1 is not a bool; an int subclass that says it equals everything is not a bool
    either; importing is allowed (the jail, not Python, is the boundary): ``import os``
    and always False earns what always False earns."""
    r = grading.grade_vma_has_changed(_vma("    return 1"))
    assert r.points == 0 and "must return a bool" in r.feedback
    liar = ("class Liar(int):\n    def __eq__(self, other):\n        return True\n"
            "    __hash__ = int.__hash__\n" + _vma("    return Liar(0)"))
    r = grading.grade_vma_has_changed(liar)
    assert r.points == 0 and "must return a bool, it returned <a Liar>" in r.feedback, r.feedback
    r = grading.grade_vma_has_changed(_vma("    import os\n    return vm_detached"))
    assert r.points == grading.grade_vma_has_changed(_vma("    return vm_detached")).points == 2


def test_vma_infinite_loop_times_out_other_parts_graded() -> None:
    """Looping only when the VMA left the tree: the scenario where it does times
    out, the others (mprotect, split: nothing is detached) are graded."""
    src = _vma("    while vm_detached:\n        pass\n"
               "    return vm_detached or vm_sequence_now != seq_at_start")
    r = grading.grade_vma_has_changed(src, timeout=3)
    by = {p.name: p for p in r.parts}
    assert by["safe and useful in fault-vs-munmap"].feedback == "timed out after 3 s"
    assert by["safe and useful in fault-vs-munmap"].points == 0
    assert by["safe and useful in fault-vs-mprotect"].points == 2
    assert by["safe and useful in fault-vs-split"].points == 2


def test_monkeypatching_the_parent_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A notebook that rebinds the explorer, the scheduler, the model's decision
    and the grader's own part function: the worker is a fresh interpreter."""
    class Nothing:
        counterexamples: dict = {}
        schedules = 0
    monkeypatch.setattr(spfteach.explore.search, "explore", lambda *a, **k: Nothing())
    monkeypatch.setattr(exercises, "explore", lambda *a, **k: Nothing())
    monkeypatch.setattr(spfteach.sched.Run, "run_spec", lambda self, spec: self)
    monkeypatch.setattr(exercises, "_vma_part",
                        lambda args, part: grading.Part(part, 2.0, 2.0, "right"))
    r = grading.grade_vma_has_changed(_vma("    return vm_detached"))
    assert r.points == 2 and r.parts[-1].name == "safe and useful in fault-vs-split", r.feedback


# --- walk -------------------------------------------------------------------------

def test_walk_questions_are_stable_and_differ_by_student() -> None:
    assert grading.questions("alice") == grading.questions("alice")
    assert grading.questions("alice") != grading.questions("bob")
    assert exercises.seed_of("alice", "walk") == 1277817158  # sha256, not the salted hash()


def _walk_answers(sid: str) -> dict[int, int | None]:
    return {a: exercises.walk_expected(sid, a) for a in grading.questions(sid)}


def test_walk_asks_three_translations_and_one_hole() -> None:
    for sid in ("alice", "bob", *[f"s{i}" for i in range(30)]):
        got = [exercises.walk_expected(sid, a) for a in grading.questions(sid)]
        assert len(set(grading.questions(sid))) == 4 and got.count(None) == 1, sid


@pytest.mark.parametrize("sid", ["alice", "bob", "s5"])
def test_walk_held_out_answers_score_a_third_at_most(sid: str) -> None:
    """None everywhere, one address for all, the frame instead of the address, and the
    addresses themselves (read off the prompt)."""
    qs = grading.questions(sid)
    right = _walk_answers(sid)
    one = next(v for v in right.values() if v is not None)
    for guess in ({a: None for a in qs}, {a: one for a in qs}, {a: a for a in qs},
                  {a: (v >> 12 if v else None) for a, v in right.items()},
                  {a: (v & ~0xFFF if v else None) for a, v in right.items()}):
        r = grading.grade_walk(sid, guess)
        assert r.points <= 1, (guess, r.feedback)


def test_walk_reference_and_partial_credit() -> None:
    right = _walk_answers("alice")
    r = grading.grade_walk("alice", right)
    assert (r.points, r.verdict) == (4, "pass"), r.feedback
    qs = list(right)
    wrong = dict(right)
    wrong[qs[1]] = (right[qs[1]] or 0x1000) ^ 0x1000  # off by one page
    r = grading.grade_walk("alice", wrong)
    assert (r.points, r.verdict) == (3, "partial")
    assert "Walk (entry flags" in r.parts[1].feedback  # the right walk, for the wrong one
    # Offsets dropped (the frame, not the byte), and None for everything.
    frames = {a: (v >> 12 if v is not None else None) for a, v in right.items()}
    assert grading.grade_walk("alice", frames).points < 4
    nothing = {a: None for a in qs}
    assert grading.grade_walk("alice", nothing).points < 4


# --- break it ---------------------------------------------------------------------

def _material() -> str:
    """What a student reads: the README, every notebook (the course's without its solution
    cells and hidden tests)."""
    out = [(ROOT / "README.md").read_text()]
    for p in (ROOT / "notebooks").rglob("*.ipynb"):
        for c in json.loads(p.read_text())["cells"]:
            if c["metadata"].get("nbgrader", {}).get("solution"):
                continue
            out.append(re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "",
                              "".join(c["source"]), flags=re.S))
    return "\n".join(out)


def _is_race(c: dict) -> bool:
    return len({part.split("*")[0] for part in c["schedule"].split(",")}) > 1


#: Schedules anyone can type: the grader must not give them the mutant's points.
TRIVIAL = ("0*", "0*,1*", "1*,0*")


def _printed_schedules() -> set[str]:
    return set(re.findall(r"\b\d\*\d*(?:,\d(?:\*\d*)?)+", _material())) | set(TRIVIAL)


def _breaks_only_the_mutant(mutant: str, scenario: str, schedule: str) -> bool:
    from spfteach.sched import ScheduleError

    try:
        if not exercises._follow(get(scenario), [mutant], schedule).violations:
            return False
    except ScheduleError:
        return False
    try:
        return not exercises._follow(get(scenario), [], schedule).violations
    except ScheduleError:
        return True  # the port does not let that interleaving happen


def test_the_break_pool_is_every_short_race_no_printed_schedule_breaks() -> None:
    """The pool holds every mutant whose counterexample in the matrix is a race of at most 64
    steps, with the scenario that catches it there, and that no schedule the material prints
    (nor a trivial one) breaks; the pool's module holds no schedule."""
    recorded = resources.read_json("mutants.json")["mutants"]
    races = {m: r["counterexample"] for m, r in recorded.items()
             if r.get("counterexample") and _is_race(r["counterexample"])
             and r["counterexample"]["steps"] <= 64}
    printed = _printed_schedules()
    easy = {m for m, c in races.items()
            if any(_breaks_only_the_mutant(m, c["scenario"], s) for s in printed)}
    assert exercises.BREAK_POOL == {m: c["scenario"] for m, c in races.items() if m not in easy}
    invariants = {races[m]["invariant"] for m in exercises.BREAK_POOL}
    assert {"deadlock", "rmap", "oops", "use-after-free", "pte-in-unlinked-table"} <= invariants
    source = Path(exercises.__file__).read_text()
    assert not any(races[m]["schedule"] in source for m in exercises.BREAK_POOL)
    ids = {exercises.mutant_for(f"student-{n}") for n in range(400)}
    assert ids == set(exercises.BREAK_POOL)  # every mutant of the pool is drawn


def _student_with(mutant: str) -> str:
    return next(f"s{i}" for i in range(1000) if grading.mutant_for(f"s{i}") == mutant)


def _explored(mutant: str) -> str:
    """The instructor's reference: the explorer's shortest counterexample, at grading time."""
    from spfteach.sched import format_schedule

    found = explore(get(exercises.BREAK_POOL[mutant]), mutants=[mutant]).counterexamples
    return format_schedule(min(found.values(), key=lambda c: len(c.schedule)).schedule)


@pytest.mark.parametrize("mutant", sorted(exercises.BREAK_POOL))
def test_break_it_reference(mutant: str) -> None:
    r = grading.grade_break_it(_student_with(mutant), exercises.BREAK_POOL[mutant],
                               _explored(mutant))
    assert (r.points, r.verdict) == (4, "pass"), r.feedback


def test_break_it_wrong_answers() -> None:
    sid = _student_with("spinlock_vma_changed")
    # The fault wins: valid, nothing breaks.
    r = grading.grade_break_it(sid, "present-vs-munmap", "0*,1*")
    assert r.points == 1 and "every invariant holds" in r.feedback, r.feedback
    # Another mutant's counterexample: this mutant survives it.
    r = grading.grade_break_it(sid, "fault-vs-munmap", "0*23,1*15,0*3")
    assert r.points == 1, r.feedback
    # A schedule that cannot be followed: why, in one line.
    r = grading.grade_break_it(sid, "present-vs-munmap", "0*27,2*3")
    assert r.points == 0 and "invalid: no thread 2" in r.feedback, r.feedback
    r = grading.grade_break_it(sid, "present-vs-munmap", "zero, one")
    assert r.points == 0 and "bad schedule item" in r.feedback
    r = grading.grade_break_it(sid, "present-vs-munmp", "0*")
    assert r.points == 0 and "unknown scenario" in r.feedback


@pytest.mark.parametrize("mutant", sorted(exercises.BREAK_POOL))
def test_break_it_trivial_and_printed_schedules_score_a_third_at_most(mutant: str) -> None:
    """Held out: every schedule the material prints (the prompt's example among them) and
    the trivial ones, handed in for each mutant of the pool."""
    sid = _student_with(mutant)
    for sched in sorted(_printed_schedules()):
        r = grading.grade_break_it(sid, exercises.BREAK_POOL[mutant], sched)
        assert r.points <= r.max_points / 3, (sched, r.feedback)


# --- seqcount ---------------------------------------------------------------------

SEQ_REFERENCE = """\
def read_snapshot(read_seq, read_a, read_b, retry):
    while True:
        seq = read_seq()
        if seq & 1:
            continue
        a = read_a()
        b = read_b()
        if not retry(seq):
            return (a, b)
"""


def _reader(body: str) -> str:
    return f"def read_snapshot(read_seq, read_a, read_b, retry):\n{body}\n"


#: plausible wrong answers, constant and copied ones -> their points (of 6): none more than a
#: third
WRONG_SEQ = {
    "a constant": (_reader("    return (0, 0)"), 0),
    "reads a, returns it twice": (_reader("    a = read_a()\n    return (a, a)"), 0),
    "reads both, returns a constant": (_reader("    read_a(), read_b()\n    return (0, 0)"), 2),
    "the prompt's shape, no loop": (_reader("    seq = read_seq()\n    a = read_a()\n"
                                            "    b = read_b()\n    return (a, b)"), 2),
    "no retry at all": (_reader("    return (read_a(), read_b())"), 2),
    "no odd test": (_reader("    while True:\n        seq = read_seq()\n"
                            "        a, b = read_a(), read_b()\n"
                            "        if not retry(seq):\n            return (a, b)"), 2),
    "retries once": (_reader("    seq = read_seq()\n    a, b = read_a(), read_b()\n"
                             "    if retry(seq):\n        a, b = read_a(), read_b()\n"
                             "    return (a, b)"), 2),
    "odd test, no retry": (_reader("    while True:\n        if read_seq() & 1:\n"
                                   "            continue\n        return (read_a(), read_b())"),
                           2),
}


def test_seqcount_reference_full_marks() -> None:
    r = grading.grade_seqcount(SEQ_REFERENCE)
    assert (r.points, r.max_points, r.verdict) == (6, 6, "pass"), r.feedback


@pytest.mark.parametrize("name", sorted(WRONG_SEQ))
def test_seqcount_wrong_answers(name: str) -> None:
    src, points = WRONG_SEQ[name]
    r = grading.grade_seqcount(src)
    assert r.points == points <= r.max_points / 3, r.feedback
    assert ("breaks torn-snapshot" in r.feedback or "breaks unread-value" in r.feedback)
    assert "shortest schedule: " in r.feedback
    print(f"{name}: {r.points:g}/{r.max_points:g}")


def test_seqcount_always_retrying_is_not_full_marks() -> None:
    src = _reader("    while True:\n        seq = read_seq()\n        read_a(), read_b()\n"
                  "        retry(seq)")
    r = grading.grade_seqcount(src)
    assert r.points == 4 and "retries forever" in r.feedback, r.feedback


def test_seqcount_catching_everything_is_named() -> None:
    src = _reader("    try:\n        return (read_a(), read_b())\n    except:\n"
                  "        return (0, 0)")
    r = grading.grade_seqcount(src)
    assert r.points == 0 and "do not catch every exception" in r.feedback, r.feedback


# --- the order of pte_map_lock()'s re-validation ----------------------------------------

PORT_ORDER = ["check_vma", "read_pmd", "pmd_same", "lockptr", "trylock", "recheck_vma"]
#: the scenarios where a step of pte_map_lock() earns its place
LOCK_SCENARIOS = ("fault-vs-munmap", "fault-vs-thp-collapse-v9", "fault-vs-mprotect",
                  "ipi-vs-ptl", "fault-vs-split", "present-vs-munmap")


def _orders() -> dict[tuple[str, ...], list[str]]:
    """Every order C can run, one per behaviour (the two VMA checks are the same test)."""
    import itertools

    from spfteach.grading import lockorder

    out: dict[tuple[str, ...], list[str]] = {}
    for p in itertools.permutations(lockorder.STEPS):
        if lockorder.refused(list(p)) is None:
            out.setdefault(tuple("vma" if x in lockorder.VMA_CHECKS else x for x in p), list(p))
    return out


def test_an_order_is_safe_exactly_when_it_keeps_every_rule() -> None:
    """All 90 orders C can run (45 behaviours), each explored in every scenario where the
    lock helper matters and run in quiet: safe and useful exactly when it keeps the three
    rules, and a broken rule shows in its rule's scenario.  The port's order is one of the
    two safe ones."""
    from spfteach.grading import lockorder
    from spfteach.model.mm_types import VM_FAULT_ERROR, VM_FAULT_RETRY

    orders = _orders()
    assert len(orders) == 45
    safe = []
    for canon, order in orders.items():
        hook = {"pte_map_lock checks": lockorder.in_order(order)}
        broken = {sc for sc in LOCK_SCENARIOS
                  if explore(get(sc).with_override(hook)).counterexamples}
        run = get("quiet").with_override(hook).new_run().finish()
        spf = run.tasks[0].spf_result
        assert not run.violations and not spf & (VM_FAULT_RETRY | VM_FAULT_ERROR), canon
        kept = [keep(order) for _, keep, _ in lockorder.RULES]
        assert (not broken) == all(kept), (canon, broken, kept)
        for (_, _, scen), k in zip(lockorder.RULES, kept, strict=True):
            assert k or scen in broken, (canon, scen)
        if not broken:
            safe.append(canon)
    assert safe == [("vma", "read_pmd", "pmd_same", "lockptr", "trylock", "vma")]
    assert lockorder.refused(PORT_ORDER) is None and all(k(PORT_ORDER) for _, k, _ in
                                                         lockorder.RULES)


def test_the_ordered_checks_are_the_models_in_the_ports_order() -> None:
    """In the port's order the grading's helper explores exactly as the model does (the same
    states, schedules and verdicts) where it matters: it holds the model's steps."""
    from spfteach.grading import lockorder

    for sc in ("fault-vs-munmap", "fault-vs-thp-collapse-v9", "ipi-vs-ptl"):
        plain = explore(get(sc))
        ordered = explore(get(sc).with_override(
            {"pte_map_lock checks": lockorder.in_order(PORT_ORDER)}))
        assert (ordered.states, ordered.executions, ordered.verdict()) == (
            plain.states, plain.executions, plain.verdict()), sc


def test_each_student_gets_the_steps_in_an_unsafe_order_of_their_own() -> None:
    from spfteach.grading import lockorder

    shown = {tuple(exercises.lock_steps_for(f"s{i}")) for i in range(30)}
    assert len(shown) > 20
    for order in shown:
        assert sorted(order) == sorted(lockorder.STEPS)
        assert not all(keep(list(order)) for _, keep, _ in lockorder.RULES)


def test_lock_order_reference_and_wrong_orders() -> None:
    for right in (PORT_ORDER, ["recheck_vma", *PORT_ORDER[1:5], "check_vma"]):
        r = grading.grade_lock_order(right)
        assert (r.points, r.max_points) == (3, 3), r.feedback
    late_recheck = ["check_vma", "read_pmd", "pmd_same", "lockptr", "recheck_vma", "trylock"]
    r = grading.grade_lock_order(late_recheck)
    assert r.points == 2 and ("not in your order: fault-vs-munmap, run with your order, breaks "
                              "pte-in-unlinked-table") in r.feedback, r.feedback
    r = grading.grade_lock_order(["trylock", "lockptr", "check_vma", "read_pmd", "pmd_same",
                                  "recheck_vma"])
    assert r.points == 0 and "lockptr uses what read_pmd makes" in r.feedback, r.feedback
    r = grading.grade_lock_order(["check_vma"])
    assert r.points == 0 and "ORDER must list each of" in r.feedback


@pytest.mark.parametrize("sid", ["alice", "bob", "s7"])
def test_lock_order_the_given_list_and_the_prompt_score_a_third_at_most(sid: str) -> None:
    """Held out: the steps as the student is shown them, and as the prompt names them."""
    from spfteach.grading import lockorder

    for order in (exercises.lock_steps_for(sid), list(lockorder.STEPS)[::-1],
                  sorted(lockorder.STEPS)):
        if lockorder.refused(order) is None:
            r = grading.grade_lock_order(order)
            assert r.points <= 2, (order, r.feedback)


# --- which writers the fault relies on ----------------------------------------------------

def test_relied_is_what_removing_each_bracket_alone_breaks() -> None:
    """Each writer's bracket taken away alone, every scenario explored: the ones that break
    are RELIED, each first in the scenario RELIED names; the others break nowhere."""
    from spfteach.scenarios import SCENARIOS

    breaks = {}
    for w, fns in exercises.WRITERS.items():
        if not fns:
            continue
        hook = {"no vm_write in": frozenset(fns)}
        breaks[w] = [n for n in SCENARIOS
                     if explore(get(n).with_override(hook)).counterexamples]
    assert {w for w, b in breaks.items() if b} == set(exercises.RELIED)
    for w, scen in exercises.RELIED.items():
        assert scen in breaks[w], (w, breaks[w])


def test_writers_right_and_held_out_answers() -> None:
    right = sorted(exercises.RELIED)
    r = grading.grade_writers(right)
    assert (r.points, r.max_points) == (3, 3), r.feedback
    held_out = {"all": list(exercises.WRITERS), "none": [], "every writer that brackets":
                [w for w, f in exercises.WRITERS.items() if f],
                "the first three of the table": list(exercises.WRITERS)[:3],
                "the last three of the table": list(exercises.WRITERS)[-3:]}
    for name, picked in held_out.items():
        r = grading.grade_writers(picked)
        assert r.points <= 1, (name, r.feedback)
    r = grading.grade_writers(["mprotect", "split"])  # one left out: its counterexample
    assert r.points == round(3 * 7 / 9, 2)
    assert "mremap: left out, but without its bracket fault-at-mremap-destination breaks" in (
        r.feedback)
    r = grading.grade_writers(["mprotect", "split", "mremap", "munmap"])
    assert "munmap: picked, but with its bracket removed alone no scenario" in r.feedback
    r = grading.grade_writers(["mprotect", "fork"])
    assert r.points == 0 and "not one of the names given: fork" in r.feedback


# --- which writers must write-lock their VMA (per-VMA locks) ----------------------------------

def test_vma_locks_relied_is_what_removing_each_call_alone_breaks() -> None:
    """Under per-VMA locks, each writer's vma_start_write() removed alone (the grading hook),
    every scenario explored: the ones that break are VMA_LOCK_RELIED, each in the scenario it
    names; the others break nowhere. The hook names real call sites of the 6.12 model."""
    from spfteach.model.pervma.writers import SITES
    from spfteach.scenarios import SCENARIOS

    sites = {s.function for s in SITES.values() if s is not None} | {"vms_gather_munmap_vmas"}
    breaks = {}
    for w, fns in exercises.VMA_LOCK_WRITERS.items():
        assert set(fns) <= sites, (w, fns)
        if not fns:
            continue
        hook = {"no vma_start_write in": frozenset(fns)}
        breaks[w] = [n for n in SCENARIOS if explore(
            get(n).with_design("per-vma").with_override(hook)).counterexamples]
    assert {w for w, b in breaks.items() if b} == set(exercises.VMA_LOCK_RELIED)
    for w, scen in exercises.VMA_LOCK_RELIED.items():
        assert scen in breaks[w], (w, breaks[w])
    # what the exercise's writers without a call have, a reason said to whoever picks them
    assert set(exercises.VMA_LOCK_NONE) == {w for w, f in exercises.VMA_LOCK_WRITERS.items()
                                            if not f}
    # the same names as the speculative writers exercise: its answer can be copied
    assert list(exercises.VMA_LOCK_WRITERS) == list(exercises.WRITERS)


def _locks_source(src: str) -> grading.Result:
    """An answer cell graded as autograde grades it: its source, in the jail."""
    from spfteach.grading import pool

    return pool.run("vma_locks", {"source": src, "student_id": "s1"})


#: held out: trivial, copied and read-off answers -> at most a third (1 of 3)
HELD_OUT_LOCKS = {
    "every writer": list(exercises.VMA_LOCK_WRITERS),
    "none": [],
    "the speculative answer, copied from the writers exercise": sorted(exercises.RELIED),
    "the first three of the table": list(exercises.VMA_LOCK_WRITERS)[:3],
    "the last three of the table": list(exercises.VMA_LOCK_WRITERS)[-3:],
    "the table in reverse": list(exercises.VMA_LOCK_WRITERS)[::-1],
    "the writers the prompt's question names": ["munmap", "khugepaged_collapse"],
}


def test_vma_locks_right_answer_full_marks() -> None:
    r = grading.grade_vma_locks(sorted(exercises.VMA_LOCK_RELIED))
    assert (r.points, r.max_points, r.verdict) == (3, 3, "pass"), r.feedback
    r = _locks_source("WRITERS = " + repr(sorted(exercises.VMA_LOCK_RELIED)))
    assert r.points == 3, r.feedback


@pytest.mark.parametrize("name", sorted(HELD_OUT_LOCKS))
def test_vma_locks_held_out_answers_score_a_third_at_most(name: str) -> None:
    r = _locks_source(f"WRITERS = {HELD_OUT_LOCKS[name]!r}")
    assert r.points <= 1, (name, r.feedback)


def test_vma_locks_a_writer_left_out_gets_its_counterexample() -> None:
    r = grading.grade_vma_locks(sorted(set(exercises.VMA_LOCK_RELIED) - {"munmap"}))
    assert r.points == round(3 * 7 / 9, 2)
    fb = r.feedback
    assert ("munmap: left out, but with its vma_start_write() removed fault-vs-munmap (per-VMA "
            "locks) breaks ") in fb
    sched = re.search(r"shortest schedule: ([0-9*,]+) \((\d+) steps\)", fb)
    assert sched, fb
    # the schedule replays: the scenario, the call removed, breaks where the feedback says
    run = exercises.without_start_write("munmap").new_run()
    run.run_spec(sched.group(1))
    assert run.violations and run.violations[0].invariant in fb
    r = grading.grade_vma_locks([*exercises.VMA_LOCK_RELIED, "anon_vma_prepare"])
    assert r.points == round(3 * 7 / 9, 2)
    assert "anon_vma_prepare: picked, but 6.12 calls no vma_start_write() there" in r.feedback


#: not a list of the names, and attacks on the grade: each scores zero
BAD_LOCKS = {
    "a string": ('WRITERS = "munmap, mprotect"', "WRITERS must be a list of names"),
    "a dict": ('WRITERS = {"munmap": True}', "WRITERS must be a list of names"),
    "a name of its own": ('WRITERS = ["munmap", "fork"]', "not one of the names given: fork"),
    "no WRITERS": ("writers = []", "your answer cell does not set WRITERS"),
    "equal to everything": ("class Any(str):\n    def __eq__(self, o):\n        return True\n"
                            "    __hash__ = str.__hash__\nWRITERS = [Any('x')]\n",
                            "WRITERS must be a list of names, not [<a Any>]"),
    "the grader's tables": ("from spfteach.grading import exercises\n"
                            "WRITERS = list(exercises.VMA_LOCK_RELIED)\n",
                            "ModuleNotFoundError: No module named 'spfteach'"),
    "a forged result on every descriptor": (
        "for c in ().__class__.__base__.__subclasses__():\n"
        "    if c.__name__ == '_wrap_close':\n"
        "        os = c.__init__.__globals__['sys'].modules['os']\n"
        "fake = b'{\"part\": {\"name\": \"the VMA write locks the fault relies on\", '\n"
        "fake += b'\"points\": 3, \"max_points\": 3}}\\n'\n"
        "for fd in range(20):\n    try:\n        os.write(fd, fake)\n"
        "    except OSError:\n        pass\nos._exit(0)\n",
        "the jail answered something that is not the protocol"),
}


@pytest.mark.parametrize("name", sorted(BAD_LOCKS))
def test_vma_locks_non_lists_and_attacks_score_zero(name: str) -> None:
    src, said = BAD_LOCKS[name]
    r = _locks_source(src)
    assert r.points == 0, (name, r.feedback)
    assert said in r.feedback, (name, r.feedback)


def test_blank_answer_cell_says_no_answer_yet() -> None:
    r = grading.grade_vma_has_changed("def vma_has_changed(a, b, c):\n    raise "
                                      "NotImplementedError()\n")
    assert r.points == 0 and "no answer yet" in r.feedback, r.feedback


def test_autograded_outside_refuses_in_the_students_kernel(monkeypatch) -> None:
    """Under autograde the hidden call never grades in the kernel (the student's to fake):
    a course without nbgrader_plugin configured scores the cell zero, saying why."""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(RuntimeError, match=r"add nbgrader_plugin.configure\(c\)"):
        grading.autograded_outside("lock_order", answer="order-answer")
    assert grading.check("lock_order") is None  # the visible part grades nothing either


def test_autograded_outside_grades_in_place_elsewhere(monkeypatch) -> None:
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    ns = {"ORDER": list(PORT_ORDER), "autograded_outside": grading.autograded_outside}
    assert eval("autograded_outside('lock_order', answer='order-answer')", ns) == 3  # noqa: S307
    ns["ORDER"] = ["check_vma"]
    assert eval("autograded_outside('lock_order', answer='order-answer')", ns) == 0  # noqa: S307


# --- a class: judge processes in parallel, identical answers once --------------------------

def test_a_pool_grades_identical_answers_once() -> None:
    """Ten students, three distinct answers (two copy the reference, one copies the wrong
    one): three gradings, and each student the result its answer earns alone."""
    from spfteach.grading.pool import Pool

    wrong = WRONG_VMA["ignores vm_detached"][0]
    answers = [REFERENCE] * 5 + [wrong] * 4 + [_vma("    return True")]
    tasks = [("vma_has_changed", {"source": src, "student_id": f"s{i}"})
             for i, src in enumerate(answers)]
    walk = [("walk", {"student_id": sid, "answers": {}}) for sid in ("alice", "Alice ", "bob")]
    pool = Pool(jobs=2)
    got = pool.grade(tasks + walk)
    assert [r.points for r in got] == [6] * 5 + [4] * 4 + [0] + [0, 0, 0]
    # the walk depends on the id (alice and "Alice " are one student); the vma answer does not
    assert pool.graded == 3 + 2
    assert [p.name for p in got[10].parts] == [p.name for p in got[11].parts] != [
        p.name for p in got[12].parts]
    assert got[0].feedback == grading.grade_vma_has_changed(REFERENCE).feedback


def test_the_walk_self_check_tells_right_or_not_and_never_the_walk(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """In the notebook, check("walk") says which addresses are right, for the id it prints
    first, and returns nothing (a cell's last value is displayed: a Result would show the
    right walk for every wrong answer)."""
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setenv("SPFTEACH_STUDENT_ID", "alice")
    right = _walk_answers("alice")
    ns = {"answers": {a: None for a in right}}
    assert eval("check('walk')", {**ns, "check": grading.check}) is None  # noqa: S307
    out = capsys.readouterr().out
    assert out.splitlines()[0] == 'student id: "alice" (from SPFTEACH_STUDENT_ID)'
    assert "walk: 1/4" in out and "not right yet" in out
    assert not any(f"{v:#x}" in out for v in right.values() if v is not None), out
