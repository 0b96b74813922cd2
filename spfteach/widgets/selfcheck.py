"""The self-check at the end of a notebook: the student sets ``answer_1 = ...``
and a cell calls :func:`check`, which says right or wrong with one line why.

The expected answer is computed by the notebook from the model (a walk, a run),
not typed in.  Plain text (a ``print``), so it reads the same in JupyterLab and
under nbgrader.
"""

from __future__ import annotations

from typing import Any

#: what a question's variable holds until the student answers it
UNANSWERED = ...


def _norm(value: Any) -> Any:
    """Compare answers loosely: strings without case, quotes or surrounding blanks;
    a string that is a number (``"0x1f"``, ``"12"``) as that number."""
    if isinstance(value, str):
        text = value.strip().strip("`'\"").strip().lower()
        try:
            return int(text, 0)
        except ValueError:
            return text
    return value


def check(label: str, answer: Any, expected: Any, why: str, show: Any = repr) -> bool:
    """Print ``label: right/wrong`` and ``why``; True when right.  ``show`` formats
    the expected answer when the student's is wrong (``hex`` for an address)."""
    if answer is UNANSWERED:
        print(f"{label}: not answered yet (set it in the cell above, then run this one again)")
        return False
    ok = _norm(answer) == _norm(expected)
    verdict = "right" if ok else f"wrong, the answer is {show(expected)}"
    print(f"{label}: {verdict}. {why}")
    return ok
