"""Who is graded: one id, never a string the student typed into the answer.

At autograde the id is nbgrader's: the submission's folder, which on a hub with
nbgrader's JupyterHub plugin is the hub user.  In the student's own notebook the
self-check takes it from the environment, the first of:

1. ``JUPYTERHUB_USER`` (the hub's user: what nbgrader grades on a hub);
2. nbgrader's ``CourseDirectory.student_id``, where the student's nbgrader
   configuration sets one (``nbgrader submit`` then records it);
3. ``SPFTEACH_STUDENT_ID``, an explicit setting for a machine with neither;
4. the login name, which ``nbgrader submit`` records when nothing else says.

and prints which, as one line :func:`claim_line` writes and
:func:`claimed_in` reads back at autograde: where the notebook checked as
another id than the one graded, the feedback says so in its first line.  Ids
are compared as :func:`~.exercises.canonical_id` makes them (no surrounding
spaces, no case): ``"Alice "`` gets alice's problem.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable

from .exercises import canonical_id

#: The explicit setting (3. above).
ENV = "SPFTEACH_STUDENT_ID"
_CLAIM = re.compile(r'^student id: ("(?:[^"\\\n]|\\.){0,200}") \(from ([^()\n]{1,80})\)$')


def _nbgrader_configured() -> str | None:
    """``CourseDirectory.student_id`` from the nbgrader configuration files the
    student's ``nbgrader submit`` would load, when one sets it."""
    try:
        from jupyter_core.paths import jupyter_config_path
        from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader
    except ImportError:  # pragma: no cover - both come with nbgrader
        return None
    found = None
    for d in [*reversed(jupyter_config_path()), os.getcwd()]:
        try:
            cfg = PyFileConfigLoader("nbgrader_config.py", path=d).load_config()
        except ConfigFileNotFound:
            continue
        except Exception:  # noqa: BLE001 - a broken config file is nbgrader's to report
            continue
        sid = cfg.get("CourseDirectory", {}).get("student_id")
        if isinstance(sid, str) and sid and sid != "*":
            found = sid
    return found


def student_id() -> tuple[str, str]:
    """(the id, where it came from), from the environment as the module says."""
    hub = os.environ.get("JUPYTERHUB_USER", "").strip()
    if hub:
        return hub, "JUPYTERHUB_USER"
    configured = _nbgrader_configured()
    if configured:
        return configured, "nbgrader's CourseDirectory.student_id"
    explicit = os.environ.get(ENV, "").strip()
    if explicit:
        return explicit, ENV
    try:
        from nbgrader.utils import get_username
        login = get_username()
    except Exception:  # noqa: BLE001 - no nbgrader, or no user database entry
        import getpass
        login = getpass.getuser()
    return login, "the login name nbgrader submit records"


def claim_line(sid: str, source: str) -> str:
    """The line a notebook prints about the id it checks with."""
    return f"student id: {json.dumps(sid)} (from {source})"


def claimed_in(texts: Iterable[str]) -> tuple[str, str] | None:
    """The last (id, source) a notebook's outputs claim, or None."""
    found = None
    for text in texts:
        for line in text.splitlines():
            m = _CLAIM.match(line)
            if m:
                try:
                    found = (str(json.loads(m.group(1))), m.group(2))
                except ValueError:
                    continue
    return found


def mismatch_note(graded: str, claimed: tuple[str, str] | None) -> str | None:
    """The feedback's first lines when the notebook checked as another id: the
    fact first (short enough to read in a feedback page), then why it matters."""
    if claimed is None or claimed[0] == graded:
        return None
    sid, source = claimed
    first = f"note: your notebook checked as {sid!r}, but you are graded as {graded!r}"
    if canonical_id(sid) == canonical_id(graded):
        return (f"{first}\n      (from {source}; ids ignore case and surrounding spaces: "
                "the same problem)")
    return (f"{first}\n      (from {source}; the id nbgrader grades is the one that counts: "
            f"your answers are checked against the problem of {graded!r})")
