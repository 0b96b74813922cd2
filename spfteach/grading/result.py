"""What a grader answers: points per part, a verdict, and feedback in words.

Results cross a process boundary (a judge process grades, the notebook or
nbgrader prints), so they are plain data with a JSON form; a grade is never an
exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Part:
    """One graded part: its points out of ``max_points``, and why."""

    name: str
    points: float
    max_points: float
    feedback: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "points": self.points, "max_points": self.max_points,
                "feedback": self.feedback}

    @classmethod
    def from_dict(cls, d: dict) -> Part:
        return cls(str(d["name"]), float(d["points"]), float(d["max_points"]),
                   str(d.get("feedback", "")))


@dataclass(frozen=True)
class Result:
    """A graded exercise. ``verdict`` is ``"pass"`` (full marks), ``"partial"``,
    ``"fail"`` (zero) or ``"refused"`` (not graded, and ``refused`` says why: the
    jail cannot run here, or the grader failed)."""

    exercise: str
    parts: tuple[Part, ...] = ()
    refused: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def points(self) -> float:
        return 0.0 if self.refused else sum(p.points for p in self.parts)

    @property
    def max_points(self) -> float:
        return sum(p.max_points for p in self.parts)

    @property
    def verdict(self) -> str:
        if self.refused:
            return "refused"
        if self.parts and self.points >= self.max_points:
            return "pass"
        return "partial" if self.points > 0 else "fail"

    @property
    def feedback(self) -> str:
        """Every part's line, then its details (the counterexample, the walk)."""
        if self.refused:
            return self.refused
        lines = [f"{self.exercise}: {self.points:g}/{self.max_points:g} ({self.verdict})"]
        lines.extend(self.notes)
        for p in self.parts:
            head, _, rest = p.feedback.partition("\n")
            lines.append(f"  [{p.points:g}/{p.max_points:g}] {p.name}: {head}")
            lines.extend(f"      {line}" for line in rest.splitlines())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.feedback

    def as_dict(self) -> dict[str, object]:
        return {"exercise": self.exercise, "parts": [p.as_dict() for p in self.parts],
                "refused": self.refused, "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, d: dict) -> Result:
        return cls(str(d["exercise"]), tuple(Part.from_dict(p) for p in d["parts"]),
                   str(d.get("refused", "")), tuple(str(n) for n in d.get("notes", ())))
