"""The grading worker: a fresh interpreter (``python -I``) that reads one task as
JSON on stdin and answers JSON lines on stdout.

Fresh, so nothing the notebook rebound (an ``explore`` that finds nothing, a
grader that says yes) is in it; isolated (``-I``: no user site, no
``PYTHONPATH``, no current directory on ``sys.path``), so it imports the package
at the root the parent names.  Before grading it checks that the package it
imported is the one shipped (:mod:`.integrity`).

Protocol, one JSON object a line: ``{"plan": [[part, max], ...]}`` first, then
``{"part": {...}}`` per part graded, or ``{"refused": "..."}`` alone.  The
student's code may print: it goes to stderr, the protocol has its own copy of
the original stdout.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main() -> None:
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything else written to stdout (the student's print) goes to stderr
    sys.stdout = sys.stderr
    task = json.loads(sys.stdin.read())

    def say(obj: dict) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    from . import exercises, integrity

    # The package this worker was imported from (its grading/ is this file's directory).
    root = Path(__file__).resolve().parent.parent
    digest = integrity.package_digest(root)
    wanted_root = task.get("root")
    refs = [r for r in (task.get("baseline"), task.get("expect")) if r]
    if (wanted_root and Path(wanted_root).resolve() != root) or any(r != digest for r in refs):
        say({"refused": integrity.REFUSED})
        return
    args = task["args"]
    plan = exercises.plan(task["exercise"], args)
    say({"plan": plan})
    skip = set(task.get("skip", ()))
    for name, _ in plan:
        if name in skip:
            continue
        part = exercises.grade_part(task["exercise"], args, name)
        say({"part": part.as_dict()})


if __name__ == "__main__":
    main()
