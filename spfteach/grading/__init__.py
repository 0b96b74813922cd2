"""Grading that answers with a counterexample (DESIGN.md §6).

A grading cell calls one of these; each grades in a fresh worker process
(:mod:`.sandbox`), so the student's code never runs in the notebook's
interpreter, a loop costs only the part it hangs, and a notebook that rebinds
``spfteach`` (or rewrites its files: :mod:`.integrity`) cannot change a grade.
Each returns a :class:`Result`: points per part, a verdict, feedback text.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import textwrap
from collections.abc import Callable
from typing import Any

from . import integrity, sandbox
from .exercises import LOCK_STEPS, VMA_SIGNATURE, mutant_for, seed_of, walk_questions
from .result import Part, Result
from .seqcount import SIGNATURE as SEQCOUNT_SIGNATURE


def questions(student_id: str) -> list[int]:
    """The addresses of the walk exercise for this student (answer each with its
    physical address, or None when there is no translation)."""
    return walk_questions(student_id)


def walk_problem(student_id: str) -> str:
    """The walk exercise as text: this student's map, page tables and addresses."""
    from ..drills.walk import problem

    return problem(seed_of(str(student_id), "walk"), walk_questions(str(student_id)))


def grade_walk(student_id: str, answers: dict[int, int | None],
               timeout: float = sandbox.DEFAULT_TIMEOUT, expect: str | None = None) -> Result:
    """One point per address of :func:`questions`."""
    args = {"student_id": str(student_id),
            "answers": {str(int(a)): (None if v is None else int(v)) for a, v in answers.items()}}
    return sandbox.run("walk", args, timeout=timeout, expect=expect)


def grade_break_it(student_id: str, scenario: str, schedule: str,
                   timeout: float = sandbox.DEFAULT_TIMEOUT, expect: str | None = None) -> Result:
    """A schedule of ``scenario`` that breaks an invariant under
    :func:`mutant_for` ``(student_id)`` and not on the unmutated port."""
    args = {"student_id": str(student_id), "scenario": str(scenario), "schedule": str(schedule)}
    return sandbox.run("break_it", args, timeout=timeout, expect=expect)


def source_of(answer: str | Callable) -> str:
    """The source text of a student's function (or the text itself)."""
    return answer if isinstance(answer, str) else textwrap.dedent(inspect.getsource(answer))


def grade_vma_has_changed(answer: str | Callable, timeout: float = sandbox.DEFAULT_TIMEOUT,
                          expect: str | None = None) -> Result:
    """The student's ``def vma_has_changed(vm_sequence_now, seq_at_start, vm_detached)
    -> bool``, explored in the scenarios where the decision matters (safety) and
    run in ``quiet`` (usefulness: the fault must complete speculatively)."""
    return sandbox.run("vma_has_changed", {"source": source_of(answer)}, timeout=timeout,
                       expect=expect)


def grade_seqcount(answer: str | Callable, timeout: float = sandbox.DEFAULT_TIMEOUT,
                   expect: str | None = None) -> Result:
    """The student's ``def read_snapshot(read_seq, read_a, read_b, retry) -> tuple``
    (:mod:`.seqcount`), explored against a writer (safety: only published snapshots)
    and run alone (usefulness: it returns without retrying forever)."""
    return sandbox.run("seqcount", {"source": source_of(answer)}, timeout=timeout,
                       expect=expect)


def grade_lock_order(order: list[str], timeout: float = sandbox.DEFAULT_TIMEOUT,
                     expect: str | None = None) -> Result:
    """The order of :data:`LOCK_STEPS` in pte_map_lock(): one point per rule the
    port's order keeps, each broken rule answered with its mutant's counterexample."""
    return sandbox.run("lock_order", {"order": [str(x) for x in order]}, timeout=timeout,
                       expect=expect)


# --- in a course notebook (notebooks/course/, nbgrader_plugin) -------------------------

#: What each exercise's answer cell defines, and how it is sent to the grader.
ANSWER_NAMES = {"walk": ("answers", "STUDENT_ID"), "break_it": ("scenario", "schedule"),
                "lock_order": ("ORDER",), "vma_has_changed": ("vma_has_changed",),
                "seqcount": ("read_snapshot",)}
_graded: dict[str, Result] = {}


def _args_from(exercise: str, ns: dict[str, Any]) -> dict[str, Any]:
    """The grader's arguments from a notebook's namespace (its answer cell ran)."""
    missing = [n for n in ANSWER_NAMES[exercise] if n not in ns]
    if missing:
        raise NameError(f"run the answer cell first: {', '.join(missing)} is not defined")
    if exercise == "walk":
        return {"student_id": str(ns["STUDENT_ID"]),
                "answers": {str(int(a)): (None if v is None else int(v))
                            for a, v in dict(ns["answers"]).items()}}
    if exercise == "break_it":
        return {"student_id": str(ns.get("STUDENT_ID", "")), "scenario": str(ns["scenario"]),
                "schedule": str(ns["schedule"])}
    if exercise == "lock_order":
        return {"order": [str(x) for x in ns["ORDER"]]}
    return {"source": source_of(ns[ANSWER_NAMES[exercise][0]])}


def _grade_here(exercise: str, ns: dict[str, Any], expect: str | None) -> Result:
    args = _args_from(exercise, ns)
    key = json.dumps([exercise, args, expect], sort_keys=True)
    if key not in _graded:
        _graded[key] = sandbox.run(exercise, args, expect=expect)
    return _graded[key]


def under_autograde() -> bool:
    """nbgrader is autograding this notebook (it sets the variable; the kernel
    inherits it)."""
    return os.environ.get("NBGRADER_EXECUTION") == "autograde"


def check(exercise: str) -> Result | None:
    """A grade cell's visible part: grade this notebook's answer with the same
    grader the instructor runs, and print the feedback.  At autograde it prints
    only that the grade is computed outside the notebook."""
    if under_autograde():
        print(f"{exercise}: graded outside this notebook (spfteach.grading.nbgrader_plugin)")
        return None
    r = _grade_here(exercise, sys._getframe(1).f_globals, None)
    if exercise == "walk":  # the feedback shows the walk: after the deadline, not before
        print(f"walk: {r.points:g}/{r.max_points:g} right")
        for p in r.parts:
            print(f"  {p.name}: " + ("right" if p.points else "not right yet"))
    else:
        print(r)
    return r


def autograded_outside(exercise: str, answer: str, expect: str | None = None) -> float:
    """A grade cell's hidden part.  At autograde the grade is not computed here
    (the student's kernel could fake it): nbgrader_plugin.Regrade replaces this
    cell's outputs, and if the course did not configure it this refuses, so the
    cell scores zero and says why.  Elsewhere (``nbgrader validate``, the
    instructor's source notebook) it grades here and returns the points."""
    if under_autograde():
        raise RuntimeError(f"{exercise} ({answer}) is graded by spfteach.grading."
                           "nbgrader_plugin.Regrade, which this course does not run: add "
                           "nbgrader_plugin.configure(c) to nbgrader_config.py")
    return _grade_here(exercise, sys._getframe(1).f_globals, expect).points


__all__ = ["LOCK_STEPS", "Part", "Result", "SEQCOUNT_SIGNATURE", "VMA_SIGNATURE",
           "autograded_outside", "check", "grade_break_it", "grade_lock_order", "grade_seqcount",
           "grade_vma_has_changed", "grade_walk", "integrity", "mutant_for", "questions",
           "source_of", "under_autograde", "walk_problem"]
