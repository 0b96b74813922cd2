"""The class list, applied: Unix users, hub users, the gradebook's students.

A roster is a CSV file, one person a line::

    id,first_name,last_name,email[,role]
    s01,Ada,Lovelace,ada@example.org
    ta1,Alan,Turing,alan@example.org,grader
    prof,Grace,Hopper,grace@example.org,instructor

The header line is optional; ``role`` is ``student`` (the default), ``grader`` (a teaching
assistant) or ``instructor`` (one per hub: the course directory and the formgrader are
theirs).  ``id`` is the Unix login, the hub's user name and nbgrader's student id at once.

Why checked whole before anything is done: a bad row found after half the class had been
created would leave a half-made class; so every row is checked first and a bad one stops
everything with one line naming it.  Applying is idempotent: a second run with the same
file changes nothing, and a run after a crash (a system command failing midway) finishes
the job.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from . import accounts
from .settings import REPO, ROLES, Person, Settings, hub_venv

ID = re.compile(r"[a-z][a-z0-9_-]{0,31}")
EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+")
#: below this uid an existing account is the system's, never a student's
FIRST_UID = 1000


class RosterError(Exception):
    """One line saying which row is wrong and how."""


@dataclass(frozen=True)
class Row:
    id: str
    first: str
    last: str
    email: str
    role: str


def parse(text: str, where: str = "roster") -> list[Row]:
    """Every row of a roster, or a :class:`RosterError` naming the first bad one."""
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for n, fields in enumerate(csv.reader(io.StringIO(text)), 1):
        fields = [f.strip() for f in fields]
        if not fields or not any(fields):
            continue
        if n == 1 and fields[0].lower() in ("id", "student_id", "username"):
            continue  # the header
        if len(fields) not in (4, 5):
            raise RosterError(f"{where}:{n}: expected 4 or 5 fields (id, first name, last name, "
                              f"email[, role]), got {len(fields)}")
        sid, first, last, email = fields[:4]
        role = (fields[4] if len(fields) == 5 else "") or "student"
        if not ID.fullmatch(sid):
            raise RosterError(f"{where}:{n}: id {sid!r} is not a login name (lower-case letter, "
                              "then lower-case letters, digits, '-' or '_', 32 at most)")
        for what, v in (("first name", first), ("last name", last)):
            if not v or len(v) > 64 or ":" in v:
                raise RosterError(f"{where}:{n}: {what} {v!r} must be 1-64 characters, no ':'")
        if not EMAIL.fullmatch(email):
            raise RosterError(f"{where}:{n}: {email!r} is not an e-mail address")
        if role not in ROLES:
            raise RosterError(f"{where}:{n}: role {role!r} is not one of {', '.join(ROLES)}")
        if sid in seen:
            raise RosterError(f"{where}:{n}: id {sid!r} is already on line {seen[sid]}")
        seen[sid] = n
        rows.append(Row(sid, first, last, email, role))
    if not rows:
        raise RosterError(f"{where}: no one in it")
    return rows


def check(settings: Settings, rows: list[Row]) -> None:
    """What can only be judged against this machine and this hub: one instructor, and no
    system account taken for a student."""
    instructors = {r.id for r in rows if r.role == "instructor"}
    if settings.instructor:
        instructors.add(settings.instructor)
    if len(instructors) > 1:
        raise RosterError(f"more than one instructor ({', '.join(sorted(instructors))}): a hub "
                          "has one (teaching assistants are 'grader')")
    for r in rows:
        if accounts.user_exists(r.id):
            import pwd
            if pwd.getpwnam(r.id).pw_uid < FIRST_UID:
                raise RosterError(f"id {r.id!r} is a system account on this machine: choose "
                                  "another id")
        old = settings.people.get(r.id)
        if old and old.role != r.role:
            raise RosterError(f"{r.id!r} is already a {old.role} of this hub, not a {r.role}")


def apply(settings: Settings, rows: list[Row], *, hub: object | None = None) -> list[str]:
    """Create what is missing; returns one line per change made.  ``hub`` (a running
    :class:`~.local.LocalHub`) gets the new users and graders at once."""
    from .local import layout  # the directories the accounts' homes go into

    check(settings, rows)
    done: list[str] = []
    layout(settings)
    accounts.ensure_group(settings.graders_group)
    for r in rows:
        groups = [settings.graders_group] if r.role in ("grader", "instructor") else []
        existed = accounts.user_exists(r.id)
        accounts.ensure_user(r.id, f"{r.first} {r.last}", settings.homes / r.id, groups)
        if not existed:
            done.append(f"user {r.id} ({r.role})")
        settings.people[r.id] = Person(r.first, r.last, r.email, r.role)
    settings.save()
    if settings.instructor:
        done += course(settings)
        students = [r for r in rows if r.role == "student"]
        if students:
            done += gradebook(settings, students)
    if hub is not None:
        done += hub.sync_roster()  # type: ignore[attr-defined]
    return done


def course(settings: Settings) -> list[str]:
    """The course directory, from the repository's ``notebooks/course`` when absent: the
    instructor's, group-writable (setgid) by the graders' group, closed to everyone else
    (its sources hold the solutions)."""
    import grp
    import os
    import pwd

    src = REPO / "notebooks" / "course"
    dest = settings.course
    made = []
    if not (dest / "nbgrader_config.py").exists():
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / "nbgrader_config.py", dest / "nbgrader_config.py")
        shutil.copytree(src / "source", dest / "source", dirs_exist_ok=True)
        made.append(f"course directory {dest}")
    uid = pwd.getpwnam(settings.instructor or "root").pw_uid
    gid = grp.getgrnam(settings.graders_group).gr_gid
    for d, _dirs, files in os.walk(dest):
        os.chown(d, uid, gid)
        os.chmod(d, 0o2770)
        for f in files:
            p = os.path.join(d, f)
            os.chown(p, uid, gid)
            os.chmod(p, 0o660)
    return made


def gradebook(settings: Settings, students: list[Row]) -> list[str]:
    """The students in the course's gradebook, written by the instructor (whose file it
    is) through nbgrader's Gradebook API in one process: ``nbgrader db student add`` is a
    process a student, minutes for a large class."""
    assert settings.instructor
    payload = [{"id": r.id, "first_name": r.first, "last_name": r.last, "email": r.email}
               for r in students]
    r = accounts.as_user(settings.instructor,
                         [str(hub_venv() / "bin" / "python"), "-m", "spfteach.hub.gradebook",
                          str(settings.course), json.dumps(payload)],
                         cwd=settings.course, umask=0o007, timeout=300,
                         env={"JUPYTER_CONFIG_PATH": str(settings.etc_common),
                              # nbgrader runs `alembic` by name
                              "PATH": f"{hub_venv() / 'bin'}:/usr/bin:/bin"})
    if r.returncode != 0:
        tail = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise RosterError(f"adding the students to the gradebook failed: {tail}")
    added = json.loads(r.stdout)
    return [f"gradebook student {s}" for s in added]


def read(path: Path) -> list[Row]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise RosterError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise RosterError(f"{path} is not UTF-8 text: save it as CSV (UTF-8)") from None
    return parse(text, str(path))


__all__ = ["Row", "RosterError", "apply", "parse", "read"]
