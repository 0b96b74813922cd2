"""Students into the course's gradebook (run by :mod:`.roster` as the instructor).

``python -m spfteach.hub.gradebook COURSE_DIR JSON`` where JSON is a list of
``{"id", "first_name", "last_name", "email"}``; prints the ids that were not there yet.
Why a process of its own: the gradebook is the instructor's file, so it is written by the
instructor's uid (the roster command runs as root), and one process adds the whole class.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from .settings import COURSE_ID


def add(course: Path, students: list[dict[str, str]]) -> list[str]:
    added = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        for s in students:
            try:
                gb.find_student(s["id"])
            except MissingEntry:
                added.append(s["id"])
            gb.update_or_create_student(s["id"], first_name=s["first_name"],
                                        last_name=s["last_name"], email=s["email"])
    return added


if __name__ == "__main__":
    print(json.dumps(add(Path(sys.argv[1]), json.loads(sys.argv[2]))))
