"""The graders, as the judge runs them: each exercise lists its parts
(:func:`plan`) and grades one part at a time (:func:`grade_part`), so that a part
whose jail hangs or dies costs only that part (:mod:`.judge` gives the next part
a fresh jail).

Nothing of the student's runs here.  An answer is either plain data (a
self-check sends the values of the notebook's names) or an answer cell's
source, which runs in a jail (:class:`~.answer.Answer`): every value it set
comes back as plain data and is checked here by exact type, every decision of
a function it defined is a message.

Everything here is deterministic in the student's id: the id is hashed with
sha256 (:func:`seed_of`), never Python's ``hash()``, which is salted per process.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass

from ..drills import predict
from ..drills import walk as drill
from ..explore.search import Counterexample, explore
from ..model.mm_types import VM_FAULT_ERROR, VM_FAULT_RETRY
from ..scenarios import get
from ..scenarios.base import Scenario
from ..sched import Run, ScheduleError, format_schedule
from ..trace import format_trace
from . import lockorder, seqcount
from .answer import Answer
from .jail import StudentError
from .result import Part

Plan = list[tuple[str, float]]


def canonical_id(student_id: str) -> str:
    """The id a problem is generated from: without surrounding spaces and case
    (JupyterHub lowers user names; ``"Alice "`` and ``"alice"`` are one student)."""
    return str(student_id).strip().casefold()


def seed_of(student_id: str, salt: str = "") -> int:
    """A stable 31-bit seed from the id (the same on every machine and run)."""
    digest = hashlib.sha256(f"{salt}:{canonical_id(student_id)}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


# --- walk -------------------------------------------------------------------------

#: Addresses asked per student.
WALK_QUESTIONS = 4


#: How many of them have no translation: one, so that answering None everywhere
#: earns a quarter, and no constant answer more.
WALK_UNMAPPED = 1


def walk_questions(student_id: str) -> list[int]:
    """The student's addresses on the map of ``seed_of(student_id)``, distinct: three
    with a translation and one without, in an order of the seed's."""
    seed = seed_of(student_id, "walk")
    k = drill.build_map(seed)
    mapped: list[int] = []
    unmapped: list[int] = []
    i = 0
    while len(mapped) < WALK_QUESTIONS - WALK_UNMAPPED or len(unmapped) < WALK_UNMAPPED:
        a = drill.random_address(seed * 101 + i, k)
        i += 1
        bucket = unmapped if drill.outcome(k, a, k.walk(a)).physical is None else mapped
        if a not in bucket and len(bucket) < (WALK_UNMAPPED if bucket is unmapped else
                                              WALK_QUESTIONS - WALK_UNMAPPED):
            bucket.append(a)
    out = mapped + unmapped
    random.Random(seed).shuffle(out)
    return out


def walk_expected(student_id: str, address: int) -> int | None:
    k = drill.build_map(seed_of(student_id, "walk"))
    return drill.outcome(k, address, k.walk(address)).physical


def _walk_plan(args: dict) -> Plan:
    return [(f"{a:#x}", 1.0) for a in walk_questions(args["student_id"])]


def _fmt(v: int | None) -> str:
    return "no translation (None)" if v is None else f"{v:#x}"


def _is_address(v: object) -> bool:
    return type(v) is int and 0 <= v < 1 << 64  # type: ignore[operator]


def walk_answers(args: dict, answer: Answer | None) -> dict[int, int | None]:
    """The answers given as a dict, or set as ``answers`` by the student's answer
    cell (run in the jail with ``qs``, the student's addresses, as a name it may use)."""
    if answer is None:
        return {int(k): v for k, v in args["answers"].items()}
    got = answer.value("answers")
    if not isinstance(got, dict) or not all(
            _is_address(a) and (v is None or _is_address(v)) for a, v in got.items()):
        raise StudentError("answers must be a dict {address: physical address or None}, "
                           f"not {got!r:.80}")
    return got  # type: ignore[return-value]


def _walk_part(args: dict, part: str, answer: Answer | None) -> Part:
    sid = args["student_id"]
    try:
        answers = walk_answers(args, answer)
    except StudentError as e:
        return Part(part, 0.0, 1.0, str(e))
    qs = walk_questions(sid)
    address = int(part, 16)
    want = walk_expected(sid, address)
    if address not in answers:
        return Part(part, 0.0, 1.0, f"no answer (the right one: {_fmt(want)})")
    got = answers[address]
    if got == want:
        return Part(part, 1.0, 1.0, "right")
    line = f"you answered {_fmt(got)}; the walk gives {_fmt(want)}"
    # The first wrong answer gets the whole walk, the others one line.
    first_wrong = next(a for a in qs if answers.get(a, object()) != walk_expected(sid, a))
    if first_wrong == address:
        line += "\n" + drill.render(seed_of(sid, "walk"), address, solve=True)
    return Part(part, 0.0, 1.0, line)


# --- break it ---------------------------------------------------------------------

#: The mutants a student may be given, each with a scenario that catches it alone.
#: The pool is every mutant whose counterexample in the mutant matrix
#: (spfteach/data/mutants.json) is a race (two threads or more) of at most 64 steps, and
#: that no trivial schedule (``0*``, ``0*,1*``, ``1*,0*``) and no schedule the
#: course material prints breaks alone: a deadlock, the split's rmap race, THP
#: collapse, swap, COW, mbind and munmap races.  (spf_seq_odd, the mremap race, is
#: out: notebook 03 replays its schedule.)  Names only: the schedules are the
#: student's to find, and nothing the student imports holds one
#: (tests/grading/test_grading.py holds the pool to the matrix and to the material).
BREAK_POOL: dict[str, str] = {
    "hpf_no_swap": "swap-vs-munmap",
    "hpf_no_wp": "cow-vs-munmap",
    "irqs_on_walk": "fault-vs-munmap",
    "maplock_vma_changed_locked": "fault-vs-munmap",
    "spf_bounds": "fault-vs-split",
    "spf_flags": "present-vs-thp-collapse",
    "spf_vma_policy": "fault-vs-mbind",
    "spinlock_pmd_same": "present-vs-thp-collapse",
    "spinlock_vma_changed": "present-vs-munmap",
    "spinlock_vma_changed_locked": "present-vs-munmap",
    "trylock_is_lock": "present-ipi-vs-ptl",
}


def mutant_for(student_id: str) -> str:
    names = sorted(BREAK_POOL)
    return names[seed_of(student_id, "break") % len(names)]


def break_problem(student_id: str) -> tuple[str, str]:
    """(the student's mutant, a scenario where it can be caught)."""
    m = mutant_for(student_id)
    return m, BREAK_POOL[m]


def _follow(scen: Scenario, mutants: list[str], schedule: str) -> Run:
    """The schedule, then the lowest-numbered runnable thread to the end (so that
    what is judged at the end, leaks and lost faults, is judged)."""
    run = scen.new_run(mutants)
    run.run_spec(schedule)
    return run.finish()


def _break_plan(args: dict) -> Plan:
    return [("the schedule runs", 1.0), ("it breaks the mutant and only the mutant", 3.0)]


def _break_answer(args: dict, answer: Answer | None) -> tuple[str, str]:
    """(scenario, schedule), given or set by the student's answer cell."""
    if answer is None:
        return str(args["scenario"]), str(args["schedule"])
    got = answer.value("scenario"), answer.value("schedule")
    if not all(type(x) is str for x in got):
        raise StudentError("scenario and schedule must be strings, like "
                           "scenario = \"fault-vs-munmap\" and schedule = \"0*3,1*2,0*\"")
    return got  # type: ignore[return-value]


def _break_part(args: dict, part: str, answer: Answer | None) -> Part:
    mutant = mutant_for(args["student_id"])
    mx = 1.0 if part == "the schedule runs" else 3.0
    try:
        scen_name, sched = _break_answer(args, answer)
    except StudentError as e:
        return Part(part, 0.0, mx, str(e))
    try:
        scen = get(scen_name)
        broken = _follow(scen, [mutant], sched)
    except (ScheduleError, KeyError) as e:
        return Part(part, 0.0, mx, f"invalid: {e}")
    if part == "the schedule runs":
        return Part(part, 1.0, 1.0, f"{scen.name} follows {sched} under mutant {mutant}")
    if not broken.violations:
        return Part(part, 0.0, 3.0, f"under mutant {mutant} ({scen.name}, {sched}) every "
                    "invariant holds: find the moment where the removed check would have fired"
                    f'\nstep through it: RaceStepper("{scen.name}", mutant="{mutant}", '
                    f'schedule="{sched}")')
    v = broken.violations[0]
    try:
        fine = _follow(scen, [], sched)
        fine_v = fine.violations
    except ScheduleError:
        fine_v = []  # the port takes another way at that point: it does not break
    if fine_v:
        return Part(part, 1.0, 3.0, f"breaks {v.invariant}, but the unmutated port breaks too "
                    f"with the same schedule ({fine_v[0].invariant}): not the mutant's fault")
    return Part(part, 3.0, 3.0, f"breaks {v.invariant} under {mutant}: {v.message}; the "
                "unmutated port survives the same schedule")


# --- vma_has_changed ----------------------------------------------------------------

#: Where the decision matters, and what each catches among the plausible wrong
#: answers (measured): munmap (ignoring vm_detached, always False), mprotect (only
#: the detached flag), split (masking the odd bit, ``now > start + 1``).  Each
#: counts only for a check that is also useful (the fault completes in quiet).
VMA_SAFETY = ("fault-vs-munmap", "fault-vs-mprotect", "fault-vs-split")
#: Nothing races: the fault must complete speculatively.
VMA_USEFUL = "quiet"
VMA_SIGNATURE = "vma_has_changed(vm_sequence_now: int, seq_at_start: int, vm_detached: bool)"


def _decision(answer: Answer) -> Callable[[int, int, bool], bool]:
    def check(args: tuple, r: object) -> bool:
        if type(r) is not bool:
            now, start, detached = args
            raise StudentError(f"vma_has_changed() must return a bool, it returned {r!r} "
                               f"for ({now}, {start}, {detached})")
        return r
    return answer.decision("vma_has_changed", check)  # type: ignore[return-value]


def counterexample_text(scen: Scenario, c: Counterexample, last: int = 12) -> str:
    """The violated invariant, the shortest schedule, the steps that matter, and the
    line that loads it into the stepper."""
    sched = format_schedule(c.schedule)
    run = scen.new_run()
    run.run_spec(c.schedule)
    start = max(0, len(run.trace) - last)
    # The stepper runs the model's own vma_has_changed(): from the first step where
    # yours decided otherwise the run goes another way, so it gets the schedule up
    # to that step (the step the model marks ``overridden``).
    differs = next((s.index for s in run.trace if s.overridden), None)
    upto = sched if differs is None else format_schedule(c.schedule[:differs + 1])
    where = "" if differs is None else (f" (up to step {differs}, where your "
                                        "vma_has_changed() decided otherwise than the port's)")
    return "\n".join([
        f"breaks {c.invariant}: {c.message}",
        f"shortest schedule: {sched} ({len(c.schedule)} steps); its last steps:",
        format_trace(run, start=start, notes=True),
        f'step through it{where}: RaceStepper("{scen.name}", schedule="{upto}")',
    ])


def _vma_plan(args: dict) -> Plan:
    return [(f"safe and useful in {s}", 2.0) for s in VMA_SAFETY]


def _useless(decide: Callable[..., bool]) -> str | None:
    """Why the check is useless (the fault gives up in ``quiet``, where nothing
    races), or None: safety counts only for a check that lets the fault through."""
    run = get(VMA_USEFUL).with_override({"vma_has_changed": decide}).new_run().finish()
    spf = run.tasks[0].spf_result
    if run.violations:
        return f"in {VMA_USEFUL}, where nothing races, it breaks {run.violations[0]}"
    if spf is not None and not spf & (VM_FAULT_RETRY | VM_FAULT_ERROR):
        return None
    said = [s.text for s in run.trace if s.src.snippet.startswith("if (vma_has_changed")]
    return (f"in {VMA_USEFUL}, where nothing races, the speculative fault gives up and falls "
            "back to mmap_lock: " + (said[0] if said else "") + "\n(a check that says "
            "'changed' when nothing changed is safe and useless: safety counts only for a "
            "check that lets the fault through)")


def _vma_part(args: dict, part: str, answer: Answer | None) -> Part:
    assert answer is not None, "vma_has_changed is graded from its source"
    try:
        decide = _decision(answer)
        why = _useless(decide)
        if why:
            return Part(part, 0.0, 2.0, why)
        scen = get(part.split(" in ", 1)[1]).with_override({"vma_has_changed": decide})
        rep = explore(scen)
        if not rep.counterexamples:
            return Part(part, 2.0, 2.0, f"no invariant breaks in any of the {rep.states:,} "
                        "states any schedule reaches, and the fault completes where nothing "
                        "races")
        c = min(rep.counterexamples.values(), key=lambda c: (len(c.schedule), c.invariant))
        return Part(part, 0.0, 2.0, counterexample_text(scen, c))
    except Exception as e:  # noqa: BLE001 - the student's error, maybe wrapped by the model
        return student_failed(part, 2.0, e)


# --- which writers the speculative fault relies on -------------------------------------

#: What may change a VMA, or not, while a speculative fault runs: by the name a student
#: picks it with, the functions whose vm_write_begin()/vm_write_end() bracket it (none:
#: it changes no field of a VMA).
WRITERS: dict[str, tuple[str, ...]] = {
    "munmap": ("do_mas_align_munmap",),
    "khugepaged_collapse": ("collapse_huge_page",),
    "mprotect": ("mprotect_fixup",),
    "madvise_dontneed": (),
    "mbind": ("vma_replace_policy",),
    "split": ("__vma_adjust",),
    "another_fault": (),
    "anon_vma_prepare": ("__anon_vma_prepare",),
    "mremap": ("copy_vma", "move_vma"),
}
#: The writers whose bracket the speculative fault relies on: with it removed alone,
#: some scenario of the catalogue breaks (this one, the first that does); every
#: other writer's change is caught by another check.  tests/grading/test_grading.py
#: derives it again, removing each bracket alone in every scenario.
RELIED = {"mprotect": "fault-vs-mprotect", "split": "fault-vs-split",
          "mremap": "fault-at-mremap-destination"}
WRITERS_POINTS = 3.0


def _writers_plan(args: dict) -> Plan:
    return [("the brackets the fault relies on", WRITERS_POINTS)]


def _names_of(args: dict, answer: Answer | None, names: dict[str, tuple[str, ...]]) -> list[str]:
    """The student's ``WRITERS``: a list of names, each one of ``names``."""
    got = args["writers"] if answer is None else answer.value("WRITERS")
    if not isinstance(got, list | tuple) or not all(type(x) is str for x in got):
        raise StudentError(f"WRITERS must be a list of names, not {got!r:.80}")
    unknown = sorted(set(got) - set(names))
    if unknown:
        raise StudentError(f"not one of the names given: {', '.join(unknown)} (they are "
                           f"{', '.join(names)})")
    return list(got)


def _picks_part(part: str, points: float, picked: set[str], names: dict[str, tuple[str, ...]],
                relied: dict[str, str], wrong_pick: Callable[[str], str]) -> Part:
    """Each name right (picked if the fault relies on it, left out if not) counts one, each
    wrong one less one: all or none is no answer.  ``wrong_pick(name)`` says why a name was
    wrong (for one the fault relies on: the counterexample the explorer finds without it)."""
    lines, right = [], 0
    for w in names:
        if (w in picked) == (w in relied):
            right += 1
        else:
            lines.append(wrong_pick(w))
    wrong = len(names) - right
    scored = round(points * max(0, right - wrong) / len(names), 2)
    head = f"{right} of {len(names)} right" + ("" if not wrong else
                                               f", {wrong} wrong (each costs one right)")
    return Part(part, scored, points, "\n".join([head, *lines]))


def _writers_part(args: dict, part: str, answer: Answer | None) -> Part:
    """Each name right (picked if the fault relies on its bracket, left out if not)
    counts one, each wrong one less one: all or none is no answer."""
    try:
        picked = set(_names_of(args, answer, WRITERS))
    except StudentError as e:
        return Part(part, 0.0, WRITERS_POINTS, str(e))

    def why(w: str) -> str:
        if w in RELIED:
            scen = get(RELIED[w]).with_override({"no vm_write in": frozenset(WRITERS[w])})
            c = min(explore(scen).counterexamples.values(), key=lambda c: len(c.schedule))
            return (f"{w}: left out, but without its bracket {RELIED[w]} breaks "
                    f"{c.invariant}: {c.message} (schedule {format_schedule(c.schedule)})")
        if WRITERS[w]:
            return (f"{w}: picked, but with its bracket removed alone no scenario of the "
                    "model breaks: another check covers for it (which one?)")
        return f"{w}: picked, but it changes no field of a VMA: it has no bracket"
    return _picks_part(part, WRITERS_POINTS, picked, WRITERS, RELIED, why)


# --- which writers must write-lock their VMA (per-VMA locks, notebook 08) -----------------

#: The same operations under 6.12's per-VMA locks: by name, the functions whose
#: ``vma_start_write()`` the grading hook removes (``Machine.override["no vma_start_write
#: in"]``: 6.12's call sites, spfteach/model/pervma/writers.py ``SITES`` and munmap in
#: pervma/vma.py); none: 6.12 takes no VMA write lock there.
VMA_LOCK_WRITERS: dict[str, tuple[str, ...]] = {
    "munmap": ("vms_gather_munmap_vmas",),
    "khugepaged_collapse": ("collapse_huge_page",),
    "mprotect": ("mprotect_fixup",),
    "madvise_dontneed": (),
    "mbind": ("process_vma_walk_lock",),
    "split": ("__split_vma",),
    "another_fault": (),
    "anon_vma_prepare": (),
    "mremap": ("vma_link", "move_vma"),
}
#: Measured: the writers whose ``vma_start_write()`` the fault relies on under per-VMA
#: locks, each with the scenario whose exploration, with that call removed alone, breaks
#: with the shortest schedule; with any other removed, no scenario breaks.
#: tests/grading/test_grading.py derives it again from every scenario.
VMA_LOCK_RELIED = {"munmap": "fault-vs-munmap", "khugepaged_collapse": "fault-vs-thp-collapse",
                   "mprotect": "fault-vs-mprotect", "mbind": "fault-vs-mbind",
                   "split": "fault-vs-split", "mremap": "fault-at-mremap-destination"}
#: Why 6.12 takes no VMA write lock where it takes none: said only to a student who picks it.
VMA_LOCK_NONE = {
    "madvise_dontneed": "it changes no field of a VMA: it zaps PTEs under mmap_lock for "
                        "reading, each table under its PTE lock",
    "another_fault": "a fault changes no field of a VMA: it read-locks the VMA it uses",
    "anon_vma_prepare": "6.12 calls no vma_start_write() there: __anon_vma_prepare() sets "
                        "vma->anon_vma under mmap_lock and page_table_lock; what keeps a fault "
                        "under the VMA lock alone from doing it?",
}
#: Where the verdict is the model's 6.1 walk's, not 6.12's (pervma/__init__.py): said with it.
VMA_LOCK_MODEL_NOTE = {
    "khugepaged_collapse": "  (in the model, whose fault path is the port's 6.1 code: it "
                           "trusts the pmd it read; 6.12's pte_offset_map_lock() re-reads the "
                           "pmd and would refault here, as notebook 08 says)",
}
VMA_LOCKS_POINTS = 3.0


def _locks_plan(args: dict) -> Plan:
    return [("the VMA write locks the fault relies on", VMA_LOCKS_POINTS)]


def without_start_write(writer: str) -> Scenario:
    """The scenario where ``writer``'s removed ``vma_start_write()`` shows, under per-VMA
    locks, with the call removed."""
    return get(VMA_LOCK_RELIED[writer]).with_design("per-vma").with_override(
        {"no vma_start_write in": frozenset(VMA_LOCK_WRITERS[writer])})


def _left_out(writer: str, last: int = 8) -> str:
    """The counterexample of a relied-on write lock left out: the invariant, the shortest
    schedule, its last steps."""
    scen = without_start_write(writer)
    c = min(explore(scen).counterexamples.values(),
            key=lambda c: (len(c.schedule), c.invariant))
    run = scen.new_run()
    run.run_spec(c.schedule)
    return "\n".join([
        f"{writer}: left out, but with its vma_start_write() removed {scen.name} (per-VMA "
        f"locks) breaks {c.invariant}: {c.message}",
        f"  shortest schedule: {format_schedule(c.schedule)} ({len(c.schedule)} steps); "
        "its last steps:",
        format_trace(run, start=max(0, len(run.trace) - last), notes=True),
        *([VMA_LOCK_MODEL_NOTE[writer]] if writer in VMA_LOCK_MODEL_NOTE else [])])


def _locks_part(args: dict, part: str, answer: Answer | None) -> Part:
    """As the writers exercise: each name right (picked if the fault relies on its VMA write
    lock, left out if not) counts one, each wrong one less one."""
    try:
        picked = set(_names_of(args, answer, VMA_LOCK_WRITERS))
    except StudentError as e:
        return Part(part, 0.0, VMA_LOCKS_POINTS, str(e))

    def why(w: str) -> str:
        if w in VMA_LOCK_RELIED:
            return _left_out(w)
        if VMA_LOCK_WRITERS[w]:
            return (f"{w}: picked, but with its vma_start_write() removed alone no scenario "
                    "of the model breaks")
        return f"{w}: picked, but {VMA_LOCK_NONE[w]}"
    return _picks_part(part, VMA_LOCKS_POINTS, picked, VMA_LOCK_WRITERS, VMA_LOCK_RELIED, why)


def student_failed(part: str, points: float, e: BaseException) -> Part:
    """A part the student's code failed (its error, or the jail's, maybe raised
    inside the model and wrapped by it): zero, with the reason in one line.  Any
    other exception is the grader's own and propagates."""
    err: BaseException | None = e
    while err is not None:
        if isinstance(err, StudentError):
            return Part(part, 0.0, points, str(err))
        err = err.__cause__ or err.__context__
    raise e


# --- the order of pte_map_lock()'s re-validation ------------------------------------

def lock_steps_for(student_id: str) -> list[str]:
    """The six steps in this student's own order: shuffled from the id, and never
    a safe one (the list a student is given is not the answer)."""
    import random

    rng = random.Random(seed_of(student_id, "lock-order"))
    steps = list(lockorder.STEPS)
    while True:
        rng.shuffle(steps)
        if not all(keep(steps) for _, keep, _ in lockorder.RULES):
            return list(steps)


def _order_plan(args: dict) -> Plan:
    return [(rule[0], 1.0) for rule in lockorder.RULES]


def _order_of(args: dict, answer: Answer | None) -> list[str]:
    got = args["order"] if answer is None else answer.value("ORDER")
    why = lockorder.refused(got)
    if why:
        raise StudentError(why)
    return list(got)  # type: ignore[call-overload]


def _order_part(args: dict, part: str, answer: Answer | None) -> Part:
    try:
        order = _order_of(args, answer)
    except StudentError as e:
        return Part(part, 0.0, 1.0, str(e))
    _, keeps, scen_name = next(r for r in lockorder.RULES if r[0] == part)
    if keeps(order):
        return Part(part, 1.0, 1.0, "kept")
    # Your order, in the model, where breaking this rule shows.
    scen = get(scen_name).with_override({"pte_map_lock checks": lockorder.in_order(order)})
    rep = explore(scen)
    if not rep.counterexamples:  # tests/grading/test_grading.py holds every order to the rules
        raise RuntimeError(f"{order} breaks {part!r} and {scen_name} survives it")
    c = min(rep.counterexamples.values(), key=lambda c: (len(c.schedule), c.invariant))
    run = scen.new_run()
    run.run_spec(c.schedule)
    return Part(part, 0.0, 1.0, "\n".join([
        f"not in your order: {scen_name}, run with your order, breaks {c.invariant}: "
        f"{c.message}",
        f"shortest schedule: {format_schedule(c.schedule)} ({len(c.schedule)} steps); "
        "its last steps:",
        format_trace(run, start=max(0, len(run.trace) - 10), notes=True)]))


# --- seqcount -----------------------------------------------------------------------

SEQ_PARTS = {"safe against a writer": "writer", "safe when it starts mid-write": "mid-write",
             "useful alone": "alone"}


def _seq_plan(args: dict) -> Plan:
    return [(name, 2.0) for name in SEQ_PARTS]


def _seq_part(args: dict, part: str, answer: Answer | None) -> Part:
    assert answer is not None, "seqcount is graded from its source"
    try:
        fn = seqcount.JailedReader(answer)
        scen = seqcount.SCENARIOS[SEQ_PARTS[part]]
        found, outcomes, states = seqcount.search(scen, fn)
        if found is not None:
            return Part(part, 0.0, 2.0, seqcount.trace_text(scen, fn, found))
        if scen.with_writer:
            return Part(part, 2.0, 2.0, f"every snapshot is a value the structure held "
                        f"while the reader ran, of fields it read ({states} states explored)")
        if "spun" in outcomes:
            return Part(part, 0.0, 2.0, f"with no writer at all the reader made "
                        f"{seqcount.BOUND} calls without returning: it retries forever "
                        "(safe and useless)")
        return Part(part, 2.0, 2.0, "returns (0, 0), read, without a writer")
    except Exception as e:  # noqa: BLE001 - the student's error, maybe wrapped by the model
        return student_failed(part, 2.0, e)


# --- predict the outcome ---------------------------------------------------------------

PREDICT_PARTS = ("problem 1", "problem 2", "problem 3")


def predict_problems(student_id: str) -> tuple[predict.Problem, ...]:
    """The student's three problems (:mod:`spfteach.drills.predict`), from the id."""
    return predict.problems(seed_of(student_id, "predict"))


def _predict_plan(args: dict) -> Plan:
    return [(name, 2.0) for name in PREDICT_PARTS]


def _predictions(args: dict, answer: Answer | None) -> list[tuple[str, str]]:
    got = args["predictions"] if answer is None else answer.value("PREDICTIONS")
    if (not isinstance(got, list | tuple) or len(got) != len(PREDICT_PARTS) or not all(
            isinstance(x, list | tuple) and len(x) == 2
            and all(type(v) in (str, int) for v in x) for x in got)):
        raise StudentError("PREDICTIONS must list three pairs (what happens first, what the "
                           f"fault returns), one per problem, not {got!r:.100}")
    return [(str(a), str(b)) for a, b in got]


def _predict_part(args: dict, part: str, answer: Answer | None) -> Part:
    """What happens first is a point; what the fault returns a second one, counted
    only with the first (a right return for a wrong reason is a guess)."""
    try:
        first, returns = _predictions(args, answer)[PREDICT_PARTS.index(part)]
    except StudentError as e:
        return Part(part, 0.0, 2.0, str(e))
    p = predict_problems(args["student_id"])[PREDICT_PARTS.index(part)]
    o = predict.outcome(p)
    first_ok = predict.normalized(first) == predict.normalized(o.first)
    returns_ok = first_ok and predict.normalized(returns) == predict.normalized(o.returns)
    points = float(first_ok) + float(returns_ok)
    said = f"you said {first!r}, returns {returns!r}"
    if points == 2:
        return Part(part, 2.0, 2.0, f"right: {said}")
    return Part(part, points, 2.0, "\n".join([
        f"{'half right' if first_ok else 'not right'}: {said}; what happened:",
        predict.solve(p),
        f'step through it: RaceStepper("{p.scenario}"'
        + (f', mutant="{p.mutant}"' if p.mutant else "") + f', schedule="{p.schedule}")']))


@dataclass(frozen=True)
class Exercise:
    """An exercise: its parts, one part's grade, what its answer cell must set,
    and whether the problem depends on the student (then the id is part of what
    makes two answers the same)."""

    plan: Callable[[dict], Plan]
    part: Callable[[dict, str, Answer | None], Part]
    names: tuple[str, ...]
    per_student: bool = False

    def given(self, args: dict) -> dict:
        """The names the answer cell may use, bound before it runs (plain values)."""
        return {"qs": walk_questions(args["student_id"])} if "answers" in self.names else {}


EXERCISES: dict[str, Exercise] = {
    "walk": Exercise(_walk_plan, _walk_part, ("answers",), per_student=True),
    "break_it": Exercise(_break_plan, _break_part, ("scenario", "schedule"), per_student=True),
    "vma_has_changed": Exercise(_vma_plan, _vma_part, ("vma_has_changed",)),
    "writers": Exercise(_writers_plan, _writers_part, ("WRITERS",)),
    "predict": Exercise(_predict_plan, _predict_part, ("PREDICTIONS",), per_student=True),
    "seqcount": Exercise(_seq_plan, _seq_part, ("read_snapshot",)),
    "lock_order": Exercise(_order_plan, _order_part, ("ORDER",)),
    "vma_locks": Exercise(_locks_plan, _locks_part, ("WRITERS",)),
}


def plan(exercise: str, args: dict) -> Plan:
    return EXERCISES[exercise].plan(args)


def grade_part(exercise: str, args: dict, part: str, answer: Answer | None = None) -> Part:
    return EXERCISES[exercise].part(args, part, answer)
