"""nbgrader's collect, keeping only the submissions their student made.

Why: on a shared machine nbgrader's exchange names a submission after the student id the
*submitter's* nbgrader config gives (``CourseDirectory.student_id``, which a student may set
in a ``nbgrader_config.py`` of their own home), and collect takes, per id, the latest
submission; nbgrader's own ``CollectApp.check_owner`` only logs a warning.  So a student
could hand in work as a classmate, and replace the classmate's.  The operating system knows
who wrote a submission (its owner, the uid the student's server runs as): this collect
drops every submission not owned by the user it names, then takes the latest of what is
left, with nbgrader's due-date rule.  The hub's nbgrader config selects it
(``c.ExchangeFactory.collect``).
"""

from __future__ import annotations

import glob
import os
import pwd

from nbgrader.exchange.default.collect import ExchangeCollect


def owned_by(path: str, username: str) -> bool:
    try:
        return os.stat(path).st_uid == pwd.getpwnam(username).pw_uid
    except (KeyError, OSError):
        return False


class OwnedCollect(ExchangeCollect):
    """:class:`ExchangeCollect` that ignores a submission its named student did not make."""

    def init_src(self) -> None:
        super().init_src()  # the checks, the due date, the inbound path
        student_id = self.coursedir.student_id or "*"
        pattern = os.path.join(self.inbound_path,
                               f"{student_id}+{self.coursedir.assignment_id}+*")
        by_user: dict[str, list[dict]] = {}
        for f in glob.glob(pattern):
            rec = self._path_to_record(f)
            if owned_by(f, rec["username"]):
                by_user.setdefault(rec["username"], []).append(rec)
            else:
                self.log.warning("not collected: %s names %s but was not made by them", f,
                                 rec["username"])
        self.src_records = []
        for recs in by_user.values():
            recs = self._sort_by_timestamp(recs)
            if self.duedate is not None and self.before_duedate:
                on_time = [r for r in recs if r["timestamp"] <= self.duedate]
                recs = on_time or recs
            self.src_records.append(recs[0])
