"""A class report for the instructor: ``spfteach grading report COURSE_DIR``.

From nbgrader's gradebook (the scores) and the autograded notebooks (the
feedback the judge wrote into each grade cell: a line per part), per assignment
and part: how many students got full marks, part of them, nothing; the most
common wrong outcomes (the invariant broken and where, the line of the
student's code that raised, the part that timed out), how many students share
each, and who they are; and the students to talk to.  nbgrader keeps only a
number per cell; the counterexamples make it possible to say *what* went wrong
across a class.  Plain data (:class:`ClassReport`); the picture is
:func:`spfteach.viz.class_report_figure`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

#: "  [1.67/3] the brackets the fault relies on: 7 of 9 right, ..." in a grade cell's feedback
_PART = re.compile(r"^  \[([\d.]+)/([\d.]+)\] (.+?): (.*)$")
#: Below this share of an assignment's autograded points, a student is one to talk to.
TALK_BELOW = 0.4


@dataclass
class PartScores:
    """One graded part of an assignment, across the class."""

    max_points: float
    points: dict[str, float] = field(default_factory=dict)  # student -> points
    outcome: dict[str, str] = field(default_factory=dict)  # student -> what went wrong

    def counts(self) -> tuple[int, int, int]:
        """(full marks, part of them, nothing)."""
        full = sum(p >= self.max_points for p in self.points.values())
        zero = sum(p == 0 for p in self.points.values())
        return full, len(self.points) - full - zero, zero


@dataclass
class ClassReport:
    course: str
    #: assignment -> part -> scores
    parts: dict[str, dict[str, PartScores]] = field(default_factory=dict)
    #: assignment -> student -> (autograded points, their maximum)
    totals: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)

    def common(self, assignment: str, top: int = 5) -> list[tuple[str, str, list[str]]]:
        """The most common wrong outcomes: (part, outcome, the students who share it)."""
        groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        for part, scores in self.parts.get(assignment, {}).items():
            for sid, what in scores.outcome.items():
                groups[(part, what)].append(sid)
        ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        return [(part, what, sorted(sids)) for (part, what), sids in ranked[:top]]

    def to_talk_to(self, assignment: str) -> list[tuple[str, float, float]]:
        """Students below :data:`TALK_BELOW` of the autograded points, lowest first."""
        rows = [(sid, got, top) for sid, (got, top) in self.totals.get(assignment, {}).items()
                if top and got < TALK_BELOW * top]
        return sorted(rows, key=lambda r: (r[1] / r[2], r[0]))

    def as_plot_data(self) -> dict[str, dict[str, tuple[int, int, int]]]:
        """assignment -> part -> (full, partial, zero): what the figure draws."""
        return {a: {p: s.counts() for p, s in parts.items()} for a, parts in self.parts.items()}

    def text(self) -> str:
        lines = [f"Class report for {self.course}"]
        for a in sorted(self.parts):
            n = len(self.totals.get(a, {}))
            lines.append(f"\n{a}: {n} students")
            for part, s in self.parts[a].items():
                full, partial, zero = s.counts()
                lines.append(f"  {part} ({s.max_points:g} points): {full} full, {partial} "
                             f"partial, {zero} none")
            common = self.common(a)
            if common:
                lines.append("  most common wrong outcomes:")
                for part, what, sids in common:
                    shown = ", ".join(sids[:6]) + (f", and {len(sids) - 6} more"
                                                   if len(sids) > 6 else "")
                    lines.append(f"    {len(sids):3} x {part}: {what} ({shown})")
            talk = self.to_talk_to(a)
            if talk:
                lines.append("  to talk to (below "
                             f"{TALK_BELOW:.0%} of the autograded points): " + ", ".join(
                                 f"{sid} {got:g}/{top:g}" for sid, got, top in talk))
        return "\n".join(lines)


def outcome(head: str) -> str:
    """What went wrong in a part, from its feedback line, the same for every student who
    made the same mistake (numbers, addresses and schedules taken out)."""
    m = re.search(r"breaks ([\w-]+)", head)
    where = re.match(r"not in your order: ([\w-]+), run with your order", head)
    if where and m:
        return f"breaks {m.group(1)} in {where.group(1)}"
    if m:
        return f"breaks {m.group(1)}"
    m = re.match(r"(\w+(?:Error|Exception)|MemoryError)\b.* at line \d+ of your code", head)
    if m:
        return f"{m.group(1)} in their code"
    if head.startswith("timed out"):
        return "timed out"
    if head.startswith("no answer yet"):
        return "no answer yet"
    if head.startswith(("not right:", "half right:")):
        return head.split(":", 1)[0]
    if "every invariant holds" in head:
        return "the schedule breaks nothing"
    if head.startswith("you answered"):
        return "a wrong translation"
    text = re.sub(r"0x[0-9a-f]+", "0x...", head)
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'...'", text)
    text = re.sub(r"\d+(?:\.\d+)?", "N", text)
    return text[:90]


def collect(course_dir: Path) -> ClassReport:
    """Read the gradebook and the autograded notebooks of ``course_dir``."""
    import nbformat
    from nbgrader.api import Gradebook

    course_dir = Path(course_dir)
    db = course_dir / "gradebook.db"
    if not db.exists():
        raise FileNotFoundError(f"no gradebook in {course_dir}: run nbgrader autograde there "
                                "first")
    rep = ClassReport(course_dir.resolve().name)
    with Gradebook(f"sqlite:///{db}") as gb:
        for assignment in gb.assignments:
            a = assignment.name
            rep.parts[a] = {}
            rep.totals[a] = {}
            for sub in gb.assignment_submissions(a):
                sid = sub.student.id
                auto = [g for nb in sub.notebooks for g in nb.grades
                        if g.cell.cell_type == "code"]
                got = sum(g.auto_score or 0.0 for g in auto)
                rep.totals[a][sid] = (got, sum(g.max_score for g in auto))
                for nb_ in sub.notebooks:
                    path = course_dir / "autograded" / sid / a / f"{nb_.name}.ipynb"
                    if path.exists():
                        _read_parts(rep.parts[a], sid, nbformat.read(path, as_version=4))
    return rep


def _read_parts(parts: dict[str, PartScores], sid: str, nb: object) -> None:
    for cell in nb.cells:  # type: ignore[attr-defined]
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not nbg.get("grade"):
            continue
        n = 0
        for o in cell.get("outputs", []):
            for line in str(o.get("text", "")).splitlines():
                m = _PART.match(line)
                if not m:
                    continue
                n += 1
                got, top, part, head = float(m.group(1)), float(m.group(2)), m.group(3), m.group(4)
                if re.fullmatch(r"0x[0-9a-f]+", part):  # the walk: each student's own addresses
                    part = f"address {n}"
                s = parts.setdefault(part, PartScores(top))
                s.points[sid] = got
                if got < top:
                    s.outcome[sid] = outcome(head)


__all__ = ["ClassReport", "PartScores", "TALK_BELOW", "collect", "outcome"]

