"""The nbgrader round trip on the course as shipped (notebooks/course/), with nbgrader's own
command line, as an instructor runs it: generate the student versions, autograde a class of
submissions (the reference solutions, the blank release, plausible wrong answers, an infinite
loop, an exception, a notebook that rebinds the grader), generate the feedback, export the grades.

Everything runs once, in a copy of the course in a temporary directory (the module fixture);
the tests below each check one thing the round trip must show."""

from __future__ import annotations

import csv
import html
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from spfteach.grading import exercises

ROOT = Path(__file__).parent.parent
COURSE = ROOT / "notebooks" / "course"
ASSIGNMENTS = sorted(p.name for p in (COURSE / "source").iterdir() if p.is_dir())
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.timeout(1500)


# --- the class: who hands in what -------------------------------------------------------


@dataclass
class Submission:
    """One student's notebook: the release with ``answers`` (grade_id -> source) filled in,
    ``extra`` cells appended, and what it must score: grade cell -> points (None: partial,
    strictly between zero and the cell's points)."""

    answers: dict[str, str]
    expect: dict[str, float | None]
    extra: tuple[str, ...] = ()


def _vma(body: str) -> str:
    return f"def vma_has_changed(vm_sequence_now, seq_at_start, vm_detached):\n{body}\n"


def _reader(body: str) -> str:
    return f"def read_snapshot(read_seq, read_a, read_b, retry):\n{body}\n"


def _walk_answers(sid: str, mistake) -> str:
    """An answer cell for ``sid`` where ``mistake`` maps (address, right answer) to the
    answer given."""
    lines = []
    for i, a in enumerate(exercises.walk_questions(sid)):
        v = mistake(a, exercises.walk_expected(sid, a))
        lines.append(f"    qs[{i}]: {'None' if v is None else hex(v)},")
    return "answers = {\n" + "\n".join(lines) + "\n}\n"


def _walk_student(prefix: str, mistake) -> tuple[str, str]:
    """The first id ``prefix-N`` for which ``mistake`` gets some answers right and some
    wrong (ids are hashed: which addresses a student gets is fixed by the id)."""
    for n in range(200):
        sid = f"{prefix}-{n}"
        got = [mistake(a, exercises.walk_expected(sid, a)) == exercises.walk_expected(sid, a)
               for a in exercises.walk_questions(sid)]
        if any(got) and not all(got):
            return sid, _walk_answers(sid, mistake)
    raise AssertionError(f"no student id makes {prefix} partial")  # pragma: no cover


def _break_student(prefix: str) -> str:
    """An id whose mutant is the one the source notebook's reference answer breaks."""
    want = exercises.mutant_for("alice")
    return next(f"{prefix}-{n}" for n in range(500)
                if exercises.mutant_for(f"{prefix}-{n}") == want)


WALK_WRONG = {
    "forgot-offset": lambda a, v: v if v is None else v & ~0xFFF,
    "frame-number": lambda a, v: v if v is None else v >> 12,
    "swap-is-mapped": lambda a, v: v if v is not None else (a & 0xFFF) | 0x1000,
}

CHEAT = """\
import spfteach.grading as g, spfteach.grading.sandbox as s
g.autograded_outside = lambda *a, **k: 8.0
g.check = lambda *a, **k: None
s.run = lambda *a, **k: None
"""


def _class() -> dict[str, dict[str, Submission]]:
    """assignment -> student id -> submission ("alice" hands in the source's own answers)."""
    c: dict[str, dict[str, Submission]] = {a: {} for a in ASSIGNMENTS}
    c["walk"]["alice"] = Submission({}, {"walk-grade": 4})
    for name, mistake in WALK_WRONG.items():
        sid, src = _walk_student(f"walk-{name}", mistake)
        c["walk"][sid] = Submission({"student-id": f'STUDENT_ID = "{sid}"', "walk-answer": src},
                                    {"walk-grade": None})
    c["seqcount"]["alice"] = Submission({}, {"seq-grade": 6})
    for name, body, pts in [
        ("no-retry", "    return (read_a(), read_b())", 2),
        ("no-odd-test", "    while True:\n        seq = read_seq()\n"
         "        a, b = read_a(), read_b()\n        if not retry(seq):\n"
         "            return (a, b)", 2),
        ("odd-test-no-retry", "    while True:\n        if read_seq() & 1:\n"
         "            continue\n        return (read_a(), read_b())", 4),
    ]:
        c["seqcount"][f"seq-{name}"] = Submission({"seq-answer": _reader(body)},
                                                  {"seq-grade": pts})
    order = '["check_vma", "read_pmd", "pmd_same", "lockptr", "trylock", "recheck_vma"]'
    c["vma_has_changed"]["alice"] = Submission({}, {"vma-grade": 8, "order-grade": 3})
    for name, body, pts, wrong_order, opts in [
        ("ignores-detached", "    return vm_sequence_now != seq_at_start", 6,
         '["read_pmd", "check_vma", "pmd_same", "lockptr", "trylock", "recheck_vma"]', 2),
        ("masks-odd-bit", "    return vm_detached or (vm_sequence_now & ~1) != "
         "(seq_at_start & ~1)", 6,
         '["check_vma", "read_pmd", "lockptr", "trylock", "pmd_same", "recheck_vma"]', 2),
        ("always-false", "    return False", 2,
         '["check_vma", "read_pmd", "pmd_same", "lockptr", "recheck_vma", "trylock"]', 2),
    ]:
        c["vma_has_changed"][f"vma-{name}"] = Submission(
            {"vma-answer": _vma(body), "order-answer": f"ORDER = {wrong_order}"},
            {"vma-grade": pts, "order-grade": opts})
    # Loops forever where the VMA was unmapped: that part times out, the others are graded.
    c["vma_has_changed"]["vma-loops"] = Submission(
        {"vma-answer": _vma("    while vm_detached:\n        pass\n"
                            "    return vm_sequence_now != seq_at_start"),
         "order-answer": f"ORDER = {order}"},
        {"vma-grade": 6, "order-grade": 3})
    c["vma_has_changed"]["vma-raises"] = Submission(
        {"vma-answer": _vma("    return vm_detached or 1 / (vm_sequence_now - seq_at_start)"),
         "order-answer": f"ORDER = {order}"},
        {"vma-grade": 0, "order-grade": 3})
    # Always False (2/8 on its merits), and a cell that rebinds the grader to say 8.
    c["vma_has_changed"]["vma-cheats"] = Submission(
        {"vma-answer": _vma("    return False"), "order-answer": f"ORDER = {order}"},
        {"vma-grade": 2, "order-grade": 3}, extra=(CHEAT,))
    c["break_it"]["alice"] = Submission({}, {"break-grade": 4})
    for name, src in [("runs-breaks-nothing", 'schedule = "0*,1*"'),
                      ("another-mutants-schedule", 'schedule = "0*23,1*15,0*3"'),
                      ("stops-too-early", 'schedule = "0*31,1*13"')]:
        sid = _break_student(f"break-{name}")
        c["break_it"][sid] = Submission(
            {"student-id": f'STUDENT_ID = "{sid}"',
             "break-answer": f'scenario = "present-vs-munmap"\n{src}'},
            {"break-grade": 1})
    for a in ASSIGNMENTS:
        blank = {gid: 0.0 for s in c[a].values() for gid in s.expect}
        c[a]["blank"] = Submission({}, blank)
    return c


CLASS = _class()


# --- the round trip ---------------------------------------------------------------------


@dataclass
class Course:
    root: Path
    log: str
    scores: dict[tuple[str, str, str], float | None]  # (assignment, student, cell) -> auto
    max_scores: dict[tuple[str, str], float]  # (assignment, cell) -> points


def _nbgrader(root: Path, *args: str) -> str:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("NBGRADER_EXECUTION", None)
    r = subprocess.run([str(BIN / "nbgrader"), *args], cwd=root, env=env, capture_output=True,
                       text=True, timeout=1200)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{out[-4000:]}"
    assert "Exception while loading config file" not in out, out[-4000:]
    return out


def _fill(release: Path, sub: Submission, dest: Path) -> None:
    nb = nbformat.read(release, as_version=4)
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in sub.answers:
            cell.source = sub.answers[gid]
    for src in sub.extra:
        nb.cells.append(nbformat.v4.new_code_cell(src))
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Course:
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(COURSE, root, dirs_exist_ok=True)
    log = []
    for a in ASSIGNMENTS:
        log.append(_nbgrader(root, "generate_assignment", a, "--force"))
        release = root / "release" / a / f"{a}.ipynb"
        for sid, sub in CLASS[a].items():
            src = root / "source" / a / f"{a}.ipynb"
            _fill(src if sid == "alice" else release, sub, root / "submitted" / sid / a
                  / f"{a}.ipynb")
        log.append(_nbgrader(root, "autograde", a, "--force"))
        log.append(_nbgrader(root, "generate_feedback", a, "--force"))
    log.append(_nbgrader(root, "export"))
    from nbgrader.api import Gradebook

    scores: dict[tuple[str, str, str], float | None] = {}
    max_scores: dict[tuple[str, str], float] = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for a in ASSIGNMENTS:
            for sid in CLASS[a]:
                nb = gb.find_submission_notebook(a, a, sid)
                for g in nb.grades:
                    scores[(a, sid, g.name)] = g.auto_score
                    max_scores[(a, g.name)] = g.max_score
    course = Course(root, "\n".join(log), scores, max_scores)
    _report(course)
    return course


ARTIFACTS = ROOT / "test-artifacts" / "course"


def _report(course: Course) -> None:
    """The scores of the round trip and every feedback page, kept for a person to read
    (test-artifacts/course/: scores.txt, feedback/<student>/<assignment>.html)."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    lines = []
    for (a, sid, cell), got in sorted(course.scores.items()):
        top = course.max_scores[(a, cell)]
        lines.append(f"{a:16} {sid:36} {cell:12} "
                     f"{'manual' if got is None else f'{got:g}'}/{top:g}")
    (ARTIFACTS / "feedback").mkdir(parents=True)
    (ARTIFACTS / "scores.txt").write_text("\n".join(lines) + "\n")
    for page in (course.root / "feedback").glob("*/*/*.html"):
        dest = ARTIFACTS / "feedback" / page.parent.parent.name / page.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(page, dest)


def _feedback(course: Course, a: str, sid: str) -> str:
    return html.unescape((course.root / "feedback" / sid / a / f"{a}.html").read_text())


# --- what it must show ------------------------------------------------------------------


def test_every_assignment_is_in_the_class() -> None:
    assert ASSIGNMENTS == ["break_it", "seqcount", "vma_has_changed", "walk"]
    for a in ASSIGNMENTS:
        assert "alice" in CLASS[a] and "blank" in CLASS[a], a  # the reference, the release
        wrong = [s for s in CLASS[a] if s not in ("alice", "blank")]
        assert len(wrong) >= 3, a


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_release_has_no_solution_and_no_hidden_test(course: Course, a: str) -> None:
    src_nb = nbformat.read(course.root / "source" / a / f"{a}.ipynb", as_version=4)
    nb = nbformat.read(course.root / "release" / a / f"{a}.ipynb", as_version=4)
    source = "\n".join(c.source for c in src_nb.cells)
    release = "\n".join(c.source for c in nb.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "autograded_outside"):
        assert marker in source and marker not in release, marker
    # Every line of every solution region is gone (the reference answers, not just markers),
    # and so is every manually graded cell's model answer.
    regions = re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", source, re.S)
    regions += [c.source for c in src_nb.cells if c.cell_type == "markdown"
                and c.metadata.get("nbgrader", {}).get("grade")]
    assert regions
    given = "\n".join(c.source for c in src_nb.cells  # the problem text may quote a signature
                      if not c.metadata.get("nbgrader", {}).get("solution"))
    for region in regions:
        for line in region.splitlines():
            if len(line.strip()) > 12 and line.strip() not in given:
                assert line.strip() not in release, line
    manual = [c for c in nb.cells if c.cell_type == "markdown"
              and c.metadata.get("nbgrader", {}).get("grade")]
    assert len(manual) == 1 and "YOUR ANSWER HERE" in manual[0].source, "one explain-why answer"
    locked = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("locked")]
    assert locked and all(c.metadata.get("deletable") is False for c in locked)


def test_each_release_is_pinned_to_the_package(course: Course) -> None:
    from nbgrader.api import Gradebook

    from spfteach.grading import integrity

    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gb:
        for a in ASSIGNMENTS:
            nb = gb.find_notebook(a, a)
            hidden = [c.source for c in nb.source_cells if "autograded_outside(" in c.source]
            assert hidden, a
            for src in hidden:
                assert f'expect="{integrity.package_digest()}"' in src, src


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_scores(course: Course, a: str) -> None:
    """Reference: full marks; blank: zero on every autograded part; wrong answers: what
    their mistakes earn (partial); manual answers wait for the instructor."""
    for sid, sub in CLASS[a].items():
        for cell, want in sub.expect.items():
            got = course.scores[(a, sid, cell)]
            top = course.max_scores[(a, cell)]
            if want is None:
                assert got is not None and 0 < got < top, (sid, cell, got)
            else:
                assert got == want, (sid, cell, got, want)
    why = [k for k in course.scores if k[0] == a and k[2].endswith("-why")]
    assert why and all(course.scores[k] in (None, 0) for k in why)
    assert course.scores[(a, "blank", why[0][2])] == 0  # an untouched answer is zero


def test_wrong_answers_get_the_counterexample_in_the_feedback(course: Course) -> None:
    fb = _feedback(course, "vma_has_changed", "vma-ignores-detached")
    assert "breaks use-after-free" in fb
    sched = re.search(r"shortest schedule: ([0-9*,]+) \((\d+) steps\)", fb)
    assert sched, fb[:2000]
    assert 'RaceStepper("fault-vs-munmap", schedule="' in fb
    fb = _feedback(course, "vma_has_changed", "vma-masks-odd-bit")
    assert "fault-vs-split" in fb and "shortest schedule: " in fb
    assert 'mutant="maplock_pmd_same", schedule="0*35,1*4,0*2"' in fb  # its wrong order
    fb = _feedback(course, "seqcount", "seq-no-retry")
    assert "breaks torn-snapshot" in fb and "shortest schedule: " in fb
    fb = _feedback(course, "walk", next(s for s in CLASS["walk"] if "forgot-offset" in s))
    assert "the walk gives" in fb and "<- the walk stops here" in fb
    fb = _feedback(course, "break_it", next(s for s in CLASS["break_it"] if "nothing" in s))
    assert "every invariant holds" in fb and "RaceStepper(" in fb


def test_an_infinite_loop_times_out_and_the_rest_is_graded(course: Course) -> None:
    fb = _feedback(course, "vma_has_changed", "vma-loops")
    assert "safe in fault-vs-munmap: timed out after 20 s" in fb
    assert "[2/2] safe in fault-vs-mprotect" in fb and "[2/2] useful in quiet" in fb


def test_an_exception_is_named_at_the_students_line(course: Course) -> None:
    fb = _feedback(course, "vma_has_changed", "vma-raises")
    assert "ZeroDivisionError: division by zero at line 2 of your code" in fb
    assert "Traceback" not in fb.split("vma-grade")[-1][:3000]


def test_rebinding_the_grader_changes_nothing(course: Course) -> None:
    assert course.scores[("vma_has_changed", "vma-cheats", "vma-grade")] == 2
    fb = _feedback(course, "vma_has_changed", "vma-cheats")
    assert "vma_has_changed: 2/8 (partial)" in fb


def test_widget_cells_are_text_under_autograde(course: Course) -> None:
    for a, sid in (("vma_has_changed", "alice"), ("break_it", "alice")):
        nb = nbformat.read(course.root / "autograded" / sid / a / f"{a}.ipynb", as_version=4)
        shown = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert shown and not any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                                 for o in shown)
        assert not any(o.output_type == "error" for o in shown), a


def test_export_writes_every_grade(course: Course) -> None:
    rows = list(csv.DictReader((course.root / "grades.csv").open()))
    got = {(r["assignment"], r["student_id"]): float(r["raw_score"]) for r in rows}
    for a in ASSIGNMENTS:
        for sid in CLASS[a]:
            auto = sum(v or 0 for k, v in course.scores.items() if k[:2] == (a, sid))
            assert got[(a, sid)] == pytest.approx(auto), (a, sid)
    assert got[("vma_has_changed", "alice")] == 11 and got[("vma_has_changed", "blank")] == 0


def test_source_notebooks_validate(course: Course) -> None:
    """`nbgrader validate` of each source notebook (its reference answers): every grade cell
    passes, graded in the instructor's kernel (the hidden call grades in place there)."""
    for a in ASSIGNMENTS:
        out = _nbgrader(course.root, "validate", f"source/{a}/{a}.ipynb")
        assert "Success! Your notebook passes all the tests." in out, out[-3000:]
    # The blank release does not pass (a validate that cannot fail would prove nothing).
    out = _nbgrader(course.root, "validate", "release/walk/walk.ipynb")
    assert "VALIDATION FAILED" in out or "NotImplementedError" in out, out[-3000:]
