"""Grading that answers with a counterexample (DESIGN.md §6).

A grading cell calls one of these; each grades in a fresh worker process
(:mod:`.sandbox`), so the student's code never runs in the notebook's
interpreter, a loop costs only the part it hangs, and a notebook that rebinds
``spfteach`` (or rewrites its files: :mod:`.integrity`) cannot change a grade.
Each returns a :class:`Result`: points per part, a verdict, feedback text.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable

from . import integrity, sandbox
from .exercises import VMA_SIGNATURE, mutant_for, walk_questions
from .result import Part, Result
from .seqcount import SIGNATURE as SEQCOUNT_SIGNATURE


def questions(student_id: str) -> list[int]:
    """The addresses of the walk exercise for this student (answer each with its
    physical address, or None when there is no translation)."""
    return walk_questions(student_id)


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


__all__ = ["Part", "Result", "SEQCOUNT_SIGNATURE", "VMA_SIGNATURE", "grade_break_it",
           "grade_seqcount", "grade_vma_has_changed", "grade_walk", "integrity", "mutant_for",
           "questions", "source_of"]
