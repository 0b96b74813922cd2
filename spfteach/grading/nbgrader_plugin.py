"""nbgrader, graded outside the student's kernel.

nbgrader scores a grade cell from what the cell *printed* when the student's
notebook ran: no error is full marks, a number is partial credit.  Every cell
of that notebook runs in one kernel, the student's cells first, so anything the
hidden test cell computes there is the student's to fake (rebind the grader,
``subprocess``, the display hook).  So the grade is not computed there.

A grade cell of this course ends with a hidden call (nbgrader removes it from
the release and puts it back, from its database, at autograde)::

    autograded_outside("vma_has_changed", answer="vma-answer", expect=None)

and the course's ``nbgrader_config.py`` calls :func:`configure`, which adds two
preprocessors:

* :class:`PinDigest` at ``generate_assignment``: ``expect=None`` becomes the
  digest of the spfteach package that releases the assignment (the database
  keeps that source, so the pin is out of the student's reach);
* :class:`Regrade` at ``autograde``, right after the notebook ran: for each
  such cell it takes the *source* of the answer cell (``answer`` is its
  ``grade_id``), grades it in fresh worker processes (:mod:`.sandbox`) against
  the pinned digest, with the student id nbgrader autogrades, and replaces the
  cell's outputs with the feedback and the points.

In the kernel itself the hidden call only refuses under autograde (so a
course that forgets :func:`configure` gives zeros that say why, never full
marks), and grades in place otherwise (``nbgrader validate``, an instructor
running the source notebook).
"""

from __future__ import annotations

import ast
from typing import Any

from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float

from . import integrity, sandbox
from .exercises import EXERCISES
from .result import Result

#: The hidden call's name (parsed here, run in the kernel: see :func:`..autograded_outside`).
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


class PinDigest(NbGraderPreprocessor):
    """At generate_assignment: pin ``expect=None`` to the releasing package's digest."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        digest = integrity.package_digest()
        for cell in nb.cells:
            if _is_grade_code(cell) and hidden_call(cell.source) is not None:
                if "expect=None" not in cell.source:
                    continue  # already pinned by hand
                cell.source = cell.source.replace("expect=None", f'expect="{digest}"')
                self.log.info("pinned %s to spfteach %s",
                              cell.metadata.nbgrader.get("grade_id"), digest[:12])
        return nb, resources


class Regrade(NbGraderPreprocessor):
    """At autograde, after Execute: each hidden call's cell gets its outputs from
    a grade computed outside the kernel, from the answer cell's source."""

    timeout = Float(sandbox.DEFAULT_TIMEOUT, help="Seconds per graded part").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        student = str(resources.get("nbgrader", {}).get("student", ""))
        answers = {c.metadata.nbgrader.get("grade_id"): c.source for c in nb.cells
                   if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
        for cell in nb.cells:
            call = hidden_call(cell.source) if _is_grade_code(cell) else None
            if call is None:
                continue
            answer_id = call.get("answer")
            if answer_id not in answers:
                self._outputs(cell, None, f"no answer cell {answer_id!r} in the notebook")
                continue
            args = {"source": answers[answer_id], "student_id": student}
            result = sandbox.run(call["exercise"], args, timeout=self.timeout,
                                 expect=call.get("expect"))
            self._outputs(cell, result, "")
            self.log.info("%s %s: %g/%g", student, call["exercise"], result.points,
                          result.max_points)
        return nb, resources

    def _outputs(self, cell: NotebookNode, result: Result | None, error: str) -> None:
        """Feedback on stdout and the points as the cell's value (nbgrader's partial
        credit), scaled to the cell's points; a refusal is an error (zero)."""
        if result is None or result.refused:
            why = error or result.refused  # type: ignore[union-attr]
            cell.outputs = [new_output("error", ename="NotGraded", evalue=why, traceback=[why])]
            return
        cell_points = float(cell.metadata.nbgrader.get("points", 0))
        score = (result.points / result.max_points * cell_points) if result.max_points else 0.0
        cell.outputs = [
            new_output("stream", name="stdout", text=result.feedback + "\n"),
            new_output("execute_result", data={"text/plain": f"{round(score, 2):g}"},
                       execution_count=cell.get("execution_count")),
        ]


def configure(c: Any) -> None:
    """Add :class:`PinDigest` and :class:`Regrade` to an nbgrader config ``c``."""
    from nbgrader.converters import Autograde, GenerateAssignment
    from nbgrader.preprocessors import Execute

    gen = list(GenerateAssignment.class_traits()["preprocessors"].default())
    c.GenerateAssignment.preprocessors = [PinDigest, *gen]
    auto = list(Autograde.class_traits()["autograde_preprocessors"].default())
    auto.insert(auto.index(Execute) + 1, Regrade)
    c.Autograde.autograde_preprocessors = auto
