"""The judge: grades one exercise in this process, the student's code in a jail.

DESIGN.  Three parties compute a grade, kept apart by the operating system:
the judge (here: the model, the explorer, the scoring), the jail (the
student's answer cell, :mod:`.jail`), and nbgrader's bookkeeping
(:mod:`.nbgrader_plugin`).  The judge sees only plain values the jail sends,
checked by type; a part's points are computed here from what the judge itself
observed, and nothing the jail sends is a part, a score or a file.  Each part
has a budget of jail time (:class:`~.jail.Budget`): a jail that is too slow,
dies, floods or breaks the protocol costs the part it was on, with a one-line
reason, and the next part gets a fresh jail.

A judge *process* (:func:`serve`, started by :mod:`.pool`) reads tasks as JSON
lines on stdin and writes results as JSON lines on stdout; the student's code
never runs in it and holds no channel to it.
"""

from __future__ import annotations

import json
import os
import sys

from . import exercises
from .answer import Answer
from .jail import Budget, Jail, JailUnavailable, Limits, StudentError
from .result import Part, Result

#: Seconds of jail time a part may take (nbgrader's own cell limit is 30 s).
DEFAULT_TIMEOUT = 20.0
#: Lines of what the student's code printed that the feedback shows (as text).
PRINTED_LINES = 6


def grade(exercise: str, args: dict, timeout: float = DEFAULT_TIMEOUT,
          limits: Limits | None = None, jail: type[Jail] = Jail) -> Result:
    """Grade ``exercise`` with ``args`` (plain data, or ``"source"``: an answer
    cell to run in a ``jail``; only the grading benchmark passes another, to
    measure what the jail costs)."""
    ex = exercises.EXERCISES[exercise]
    answer = None
    if "source" in args:
        answer = Answer(str(args["source"]), ex.names, ex.given(args),
                        jail=jail(limits=limits or Limits(), budget=Budget(seconds=timeout)))
    try:
        plan = ex.plan(args)
        parts = []
        for name, points in plan:
            if answer is not None:
                answer.budget.reset(timeout)
            try:
                parts.append(ex.part(args, name, answer))
            except StudentError as e:  # a jail failure outside the part's own handling
                parts.append(Part(name, 0.0, points, str(e)))
    except JailUnavailable as e:
        return Result(exercise, (), refused=f"not graded: {e}")
    finally:
        if answer is not None:
            answer.close()
    notes = ()
    if answer is not None and answer.printed().strip():
        lines = answer.printed().strip().splitlines()
        shown = "\n".join(f"    | {line[:90]}" for line in lines[:PRINTED_LINES])
        more = f"\n    | ... ({len(lines) - PRINTED_LINES} more lines)" if len(
            lines) > PRINTED_LINES else ""
        notes = (f"your code printed (shown as text, not graded):\n{shown}{more}",)
    return Result(exercise, tuple(parts), notes=notes)


def serve(jail: type[Jail] = Jail) -> None:
    """A judge process: one task a line on stdin, one result a line on stdout."""
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything else printed (a stray print in the engine) is not the protocol
    sys.stdout = sys.stderr
    for line in sys.stdin:
        task = json.loads(line)
        try:
            r = grade(task["exercise"], task["args"],
                      float(task.get("timeout", DEFAULT_TIMEOUT)), jail=jail)
            out.write(json.dumps({"result": r.as_dict()}) + "\n")
        except Exception as e:  # noqa: BLE001 - a bug of spfteach, reported, not a grade
            out.write(json.dumps({"bug": f"{type(e).__name__}: {e}"}) + "\n")
        out.flush()


if __name__ == "__main__":
    serve()
