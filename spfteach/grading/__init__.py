"""Grading that answers with a counterexample (DESIGN.md §6).

A grading cell calls one of these.  Each grades in a fresh judge process
(:mod:`.pool`, :mod:`.judge`): the model, the explorer and the scoring run
there, and the student's code, where there is code to run, runs in a jail the
operating system confines (:mod:`.jail`).  A loop costs the part it hangs, a
notebook that rebinds ``spfteach`` changes nothing the judge computes, and the
student's code never holds a channel to a grade.  Each returns a
:class:`Result`: points per part, a verdict, feedback text.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import textwrap
from collections.abc import Callable
from typing import Any

from . import identity, pool
from .exercises import (
    EXERCISES,
    VMA_SIGNATURE,
    break_problem,
    lock_steps_for,
    mutant_for,
    seed_of,
    walk_questions,
)
from .judge import DEFAULT_TIMEOUT
from .lockorder import STEPS as LOCK_STEPS
from .result import Part, Result
from .seqcount import SIGNATURE as SEQCOUNT_SIGNATURE


def student_id() -> str:
    """The id this notebook checks with (:mod:`.identity`), and a line saying so:
    the one nbgrader grades under, never a string typed into the answer."""
    sid, source = identity.student_id()
    print(identity.claim_line(sid, source))
    return sid


def questions(student_id: str) -> list[int]:
    """The addresses of the walk exercise for this student (answer each with its
    physical address, or None when there is no translation)."""
    return walk_questions(student_id)


def walk_problem(student_id: str) -> str:
    """The walk exercise as text: this student's map, page tables and addresses."""
    from ..drills.walk import problem

    return problem(seed_of(str(student_id), "walk"), walk_questions(str(student_id)))


def grade_walk(student_id: str, answers: dict[int, int | None],
               timeout: float = DEFAULT_TIMEOUT) -> Result:
    """One point per address of :func:`questions`."""
    args = {"student_id": str(student_id),
            "answers": {str(int(a)): (None if v is None else int(v)) for a, v in answers.items()}}
    return pool.run("walk", args, timeout=timeout)


def grade_break_it(student_id: str, scenario: str, schedule: str,
                   timeout: float = DEFAULT_TIMEOUT) -> Result:
    """A schedule of ``scenario`` that breaks an invariant under
    :func:`mutant_for` ``(student_id)`` and not on the unmutated port."""
    args = {"student_id": str(student_id), "scenario": str(scenario), "schedule": str(schedule)}
    return pool.run("break_it", args, timeout=timeout)


def source_of(answer: str | Callable) -> str:
    """The source text of a student's function (or the text itself)."""
    return answer if isinstance(answer, str) else textwrap.dedent(inspect.getsource(answer))


def grade_vma_has_changed(answer: str | Callable, timeout: float = DEFAULT_TIMEOUT) -> Result:
    """The student's ``def vma_has_changed(vm_sequence_now, seq_at_start, vm_detached)
    -> bool``, run in a jail, explored in the scenarios where the decision
    matters (safety) and run in ``quiet`` (usefulness: the fault must complete
    speculatively)."""
    return pool.run("vma_has_changed", {"source": source_of(answer)}, timeout=timeout)


def grade_seqcount(answer: str | Callable, timeout: float = DEFAULT_TIMEOUT) -> Result:
    """The student's ``def read_snapshot(read_seq, read_a, read_b, retry) -> tuple``
    (:mod:`.seqcount`), run in a jail, explored against a writer (safety: a
    value the structure held while it ran, of fields it read) and run alone
    (usefulness: it returns without retrying forever)."""
    return pool.run("seqcount", {"source": source_of(answer)}, timeout=timeout)


def predict_problems(student_id: str) -> None:
    """Print this student's three predict problems."""
    from ..drills.predict import describe
    from .exercises import predict_problems as problems

    for n, p in enumerate(problems(student_id), 1):
        print(describe(p, n))


def grade_predict(student_id: str, predictions: list[tuple[str, str]],
                  timeout: float = DEFAULT_TIMEOUT) -> Result:
    """Three predictions (what happens first, what the fault returns), one per problem."""
    args = {"student_id": str(student_id),
            "predictions": [[str(a), str(b)] for a, b in predictions]}
    return pool.run("predict", args, timeout=timeout)


def grade_writers(writers: list[str], timeout: float = DEFAULT_TIMEOUT) -> Result:
    """The writers whose vm_write_begin()/vm_write_end() bracket the speculative fault
    relies on (:data:`.exercises.WRITERS`): each name right counts one, each wrong one
    costs one."""
    return pool.run("writers", {"writers": [str(x) for x in writers]}, timeout=timeout)


def grade_vma_locks(writers: list[str], timeout: float = DEFAULT_TIMEOUT) -> Result:
    """The writers whose vma_start_write() the fault relies on under per-VMA locks
    (:data:`.exercises.VMA_LOCK_WRITERS`): each name right counts one, each wrong one
    costs one, and each writer left out gets the counterexample its removal gives."""
    return pool.run("vma_locks", {"writers": [str(x) for x in writers]}, timeout=timeout)


def lock_steps(student_id: str) -> None:
    """Print the steps of pte_map_lock()'s re-validation, in this student's own
    order (never a safe one), with their C."""
    for name in lock_steps_for(student_id):
        print(f"{name:12} {LOCK_STEPS[name]}")


def grade_lock_order(order: list[str], timeout: float = DEFAULT_TIMEOUT) -> Result:
    """An order of :data:`LOCK_STEPS` for pte_map_lock(), run in the model: one
    point per rule every safe order keeps, each broken rule answered with the
    counterexample the student's own order gives."""
    return pool.run("lock_order", {"order": [str(x) for x in order]}, timeout=timeout)


# --- in a course notebook (notebooks/course/, nbgrader_plugin) -------------------------

_graded: dict[str, Result] = {}


def _args_from(exercise: str, ns: dict[str, Any]) -> dict[str, Any]:
    """The grader's arguments from a notebook's namespace (its answer cell ran)."""
    names = EXERCISES[exercise].names
    missing = [n for n in names if n not in ns]
    if missing:
        raise NameError(f"run the answer cell first: {', '.join(missing)} is not defined")
    if exercise == "walk":
        return {"student_id": identity.student_id()[0],
                "answers": {str(int(a)): (None if v is None else int(v))
                            for a, v in dict(ns["answers"]).items()}}
    if exercise == "break_it":
        return {"student_id": identity.student_id()[0], "scenario": str(ns["scenario"]),
                "schedule": str(ns["schedule"])}
    if exercise == "lock_order":
        return {"order": [str(x) for x in ns["ORDER"]]}
    if exercise in ("writers", "vma_locks"):
        return {"writers": [str(x) for x in ns["WRITERS"]]}
    if exercise == "predict":
        return {"student_id": identity.student_id()[0],
                "predictions": [[str(a), str(b)] for a, b in ns["PREDICTIONS"]]}
    return {"source": source_of(ns[names[0]])}


def _grade_here(exercise: str, ns: dict[str, Any]) -> Result:
    args = _args_from(exercise, ns)
    k = json.dumps([exercise, args], sort_keys=True)
    if k not in _graded:
        _graded[k] = pool.run(exercise, args)
    return _graded[k]


def under_autograde() -> bool:
    """nbgrader is executing this notebook for autograde (it sets the variable;
    the kernel inherits it).  This course's autograde executes no notebook
    (:mod:`.nbgrader_plugin`), so this is true only where a course put nbgrader's
    ``Execute`` back."""
    return os.environ.get("NBGRADER_EXECUTION") == "autograde"


def check(exercise: str) -> None:
    """A grade cell's visible part: grade this notebook's answer with the same
    grader the instructor runs, and print the feedback, after the id it checks with.
    It returns nothing: a grade cell's last value is displayed, and the walk's
    result holds the right walks, which the self-check does not show."""
    if under_autograde():
        print(f"{exercise}: graded outside this notebook (spfteach.grading.nbgrader_plugin)")
        return
    sid, source = identity.student_id()
    print(identity.claim_line(sid, source))
    r = _grade_here(exercise, sys._getframe(1).f_globals)
    if exercise in ("walk", "predict"):  # their feedback is the answer: after the deadline
        print(f"{exercise}: {r.points:g}/{r.max_points:g}")
        for p in r.parts:
            print(f"  {p.name}: " + ("right" if p.points == p.max_points else
                                     "half right" if p.points else "not right yet"))
    else:
        print(r)


def autograded_outside(exercise: str, answer: str) -> float:
    """A grade cell's hidden part.  At autograde nothing of the notebook runs:
    nbgrader_plugin.Regrade grades the answer cell's source in a jail and writes
    this cell's outputs.  Should a course execute notebooks anyway, this refuses
    there (the grade would be the student's kernel's to fake): the cell scores
    zero and says why.  Elsewhere (``nbgrader validate``, the instructor's
    source notebook) it grades here and returns the points."""
    if under_autograde():
        raise RuntimeError(f"{exercise} ({answer}) is graded by spfteach.grading."
                           "nbgrader_plugin.Regrade, not in the notebook: add "
                           "nbgrader_plugin.configure(c) to nbgrader_config.py")
    return _grade_here(exercise, sys._getframe(1).f_globals).points


__all__ = ["LOCK_STEPS", "Part", "Result", "SEQCOUNT_SIGNATURE", "VMA_SIGNATURE",
           "autograded_outside", "break_problem", "check", "grade_break_it", "grade_lock_order",
           "grade_predict", "predict_problems",
           "grade_seqcount", "grade_vma_has_changed", "grade_vma_locks", "grade_walk",
           "grade_writers", "lock_steps",
           "mutant_for", "questions", "source_of", "student_id", "under_autograde",
           "walk_problem"]
