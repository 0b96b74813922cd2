"""nbgrader, with nothing of the student's executed outside a jail.

DESIGN: autograde does not execute the student's notebook.  nbgrader scores a
grade cell from what the cell printed when the notebook ran, and runs every
cell of every submission as the instructor: a student's extra cell could read
or rewrite a classmate's submission or the gradebook, start a process that
outlives autograde, or print its own points.  The other way out, running
nbgrader's execution inside a jail, would put a whole Jupyter kernel (ZeroMQ,
IPython, the package) in the jail and still let the student's kernel compute
the outputs that nbgrader turns into points.  So :func:`configure` takes
nbgrader's ``Execute`` out of autograde, and :class:`Regrade` takes its place:

* every grade code cell gets its outputs from the judge (:mod:`.judge`), which
  grades the *source* of the answer cell its hidden call names, the student's
  code running in a jail (:mod:`.jail`), with the id nbgrader is grading;
* a grade code cell without a hidden call is refused (zero, saying why): with
  no execution its outputs would be empty, which nbgrader scores full marks;
* the feedback shows the notebook as submitted (nbgrader's sanitising has
  cleared its outputs and restored the locked cells) plus the grader's output.

A grade cell of this course ends with a hidden call (nbgrader removes it from
the release and restores it, from its database, at autograde)::

    autograded_outside("vma_has_changed", answer="vma-answer")

Grading a class: on its first notebook, :class:`Regrade` grades every
submission this run will autograde (nbgrader's ``--student`` pattern) in
parallel judge processes (:class:`~.pool.Pool`), identical answers once; each
notebook then takes its result.  No student's process is alive when autograde
returns: each jail's processes die with the jail, before its part is scored.
"""

from __future__ import annotations

import ast
import glob
import os
import re
import threading
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float, Int

from . import identity, jail
from .exercises import EXERCISES
from .judge import DEFAULT_TIMEOUT
from .pool import JUDGE, Pool, key
from .result import Result

#: The hidden call's name (parsed here; see :func:`..autograded_outside`).
CALL = "autograded_outside"


def hidden_call(source: str) -> dict[str, Any] | None:
    """The arguments of the ``autograded_outside(...)`` call in a cell, literal
    values only (the cell is the instructor's, restored from the gradebook)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == CALL and node.args):
            got = {"exercise": ast.literal_eval(node.args[0])}
            got.update({kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg})
            if got["exercise"] not in EXERCISES:
                raise ValueError(f"{CALL}(): no exercise {got['exercise']!r} "
                                 f"(there are {', '.join(EXERCISES)})")
            return got
    return None


def _is_grade_code(cell: NotebookNode) -> bool:
    nbg = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(nbg.get("grade")) and not nbg.get("solution")


def answers_of(nb: NotebookNode) -> dict[str, str]:
    """The student's answer cells by ``grade_id`` (the first cell of each id)."""
    out: dict[str, str] = {}
    for c in nb.cells:
        nbg = c.get("metadata", {}).get("nbgrader", {})
        gid = nbg.get("grade_id")
        if nbg.get("solution") and c.cell_type == "code" and gid and gid not in out:
            out[str(gid)] = str(c.source)
    return out


def tasks_of(nb: NotebookNode, grade_cells: list[NotebookNode], student: str
             ) -> list[tuple[str, dict] | str]:
    """Per grade cell: its task (exercise, args), or why it cannot be graded."""
    answers = answers_of(nb)
    out: list[tuple[str, dict] | str] = []
    for cell in grade_cells:
        try:
            call = hidden_call(cell.source)
        except ValueError as e:
            out.append(f"not graded: {e}")
            continue
        if call is None:
            out.append(f"not graded: grade cell {cell.metadata.nbgrader.get('grade_id')!r} has "
                       f"no {CALL}(...) call, and this course executes no notebook at autograde")
            continue
        answer_id = call.get("answer")
        if answer_id not in answers:
            out.append(f"not graded: no answer cell {answer_id!r} in the notebook")
            continue
        out.append((call["exercise"], {"source": answers[answer_id], "student_id": student}))
    return out


def _not_run(nb: NotebookNode) -> str | None:
    """One line about the code cells the student added, which autograde never runs."""
    added = sum(1 for c in nb.cells if c.cell_type == "code" and not c.get(
        "metadata", {}).get("nbgrader") and c.source.strip())
    if not added:
        return None
    return (f"not run: {added} code cell{'s' if added > 1 else ''} you added (autograde runs "
            "only your answer cells, each alone in a jail)")


def _outputs_text(nb: NotebookNode) -> list[str]:
    return [str(o.get("text", "")) for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "stream"]


class _Class:
    """This process's grading of a class: one pool, and the assignments whose
    submissions it already graded."""

    lock = threading.Lock()
    pool: Pool | None = None
    done: set[tuple[str, ...]] = set()

    @classmethod
    def get_pool(cls, jobs: int, timeout: float, entry: tuple[str, str]) -> Pool:
        if cls.pool is None or (cls.pool.timeout, cls.pool.entry) != (timeout, entry):
            cls.pool = Pool(jobs, timeout, entry)
            cls.done.clear()
        return cls.pool


class Regrade(NbGraderPreprocessor):
    """At autograde, in place of nbgrader's Execute: every grade code cell gets
    its outputs from a grade the judge computed from the answer cell's source."""

    timeout = Float(DEFAULT_TIMEOUT, help="Seconds of jail time per graded part").tag(
        config=True)
    jobs = Int(0, help="Judge processes grading a class in parallel (0: one per CPU)").tag(
        config=True)
    #: The judge processes' entry point (the grading benchmark's baseline has its own).
    judge = JUDGE

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        info = resources.get("nbgrader", {})
        student = str(info.get("student", ""))
        coursedir = CourseDirectory(config=self.config)
        try:
            jail.probe()
        except jail.JailUnavailable as e:
            self.log.error("spfteach: %s", e)
            raise RuntimeError(f"not graded: {e}") from None
        pool = _Class.get_pool(self.jobs, self.timeout, self.judge)
        self._grade_class(coursedir, str(info.get("assignment", "")),
                          str(info.get("notebook", "")), pool)
        claimed = self._claimed(coursedir, info)
        notes = [n for n in (identity.mismatch_note(student, claimed), _not_run(nb)) if n]
        note = "\n".join(notes) or None
        cells = [c for c in nb.cells if _is_grade_code(c)]
        for cell, task in zip(cells, tasks_of(nb, cells, student), strict=True):
            if isinstance(task, str):
                self._outputs(cell, Result("", (), refused=task), None)
                continue
            result = pool.grade([task])[0]
            if result.refused:  # the judge failed, not the student: no grade, said loudly
                self.log.error("spfteach: %s %s: %s", student, task[0], result.refused)
                raise RuntimeError(result.refused)
            self._outputs(cell, result, note)
            self.log.info("%s %s: %g/%g", student, task[0], result.points, result.max_points)
        return nb, resources

    def _grade_class(self, coursedir: CourseDirectory, assignment: str, notebook: str,
                     pool: Pool) -> None:
        """Every submission of ``notebook`` this run autogrades, graded in parallel
        (once per process)."""
        marker = (coursedir.root, assignment, notebook, coursedir.student_id)
        with _Class.lock:
            if marker in _Class.done:
                return
            _Class.done.add(marker)
        source = os.path.join(coursedir.format_path(coursedir.source_directory, ".", assignment),
                              f"{notebook}.ipynb")
        if not os.path.exists(source):
            return
        grade_cells = [c for c in nbformat.read(source, as_version=4).cells if _is_grade_code(c)]
        tasks: list[tuple[str, dict]] = []
        pattern = coursedir.format_path(coursedir.submitted_directory, coursedir.student_id,
                                        assignment)
        which = re.compile(coursedir.format_path(coursedir.submitted_directory,
                                                 "(?P<student_id>[^/]+)", re.escape(assignment),
                                                 escape=True) + "$")
        for d in sorted(glob.glob(pattern)):
            m = which.match(d)
            path = os.path.join(d, f"{notebook}.ipynb")
            if m is None or not os.path.isfile(path):
                continue
            student = m.group("student_id")
            try:
                sub = nbformat.read(path, as_version=4)
            except Exception:  # noqa: BLE001, S112 - nbgrader reports a broken notebook itself
                continue
            tasks += [t for t in tasks_of(sub, grade_cells, student) if not isinstance(t, str)]
        if tasks:
            pool.grade(tasks)
            self.log.info("spfteach: graded %d answers of %s/%s (%d distinct) in %.1f s with "
                          "%d judge processes", len(tasks), assignment, notebook,
                          len({key(e, a, pool.timeout) for e, a in tasks}), pool.seconds,
                          pool.jobs)

    def _claimed(self, coursedir: CourseDirectory, info: dict) -> tuple[str, str] | None:
        """The id the submitted notebook says it checked with (its outputs, which
        nbgrader's sanitising has cleared from the notebook being graded)."""
        path = os.path.join(coursedir.format_path(coursedir.submitted_directory,
                                                  str(info.get("student", "")),
                                                  str(info.get("assignment", ""))),
                            f"{info.get('notebook', '')}.ipynb")
        try:
            return identity.claimed_in(_outputs_text(nbformat.read(path, as_version=4)))
        except Exception:  # noqa: BLE001 - no claim is no note
            return None

    def _outputs(self, cell: NotebookNode, result: Result, note: str | None) -> None:
        """Feedback on stdout and the points as the cell's value (nbgrader's partial
        credit), scaled to the cell's points; a refusal is an error (zero)."""
        if result.refused:
            why = result.refused
            cell.outputs = [new_output("error", ename="NotGraded", evalue=why, traceback=[why])]
            return
        cell_points = float(cell.metadata.nbgrader.get("points", 0))
        score = (result.points / result.max_points * cell_points) if result.max_points else 0.0
        text = (f"{note}\n" if note else "") + result.feedback + "\n"
        cell.outputs = [
            new_output("stream", name="stdout", text=text),
            new_output("execute_result", data={"text/plain": f"{round(score, 2):g}"},
                       execution_count=cell.get("execution_count")),
        ]


def configure(c: Any) -> None:
    """Autograde with :class:`Regrade` in place of nbgrader's ``Execute``."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute

    auto = list(Autograde.class_traits()["autograde_preprocessors"].default())
    auto[auto.index(Execute)] = Regrade
    c.Autograde.autograde_preprocessors = auto
