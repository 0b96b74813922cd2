"""The self-check at the end of a notebook: the student sets ``answer_1 = ...``
and a cell calls :func:`check`.  It asks before it tells: a right answer gets
the explanation; a wrong one gets a hint, never the answer; the answer comes
only when the student asks for it (:func:`reveal`).

The expected answer is computed by the notebook from the model (a walk, a run),
not typed in.  Equivalent forms count as the same answer (:func:`same`): case,
quotes and blanks; ``mmap_sem`` and its name since 5.8, ``mmap_lock``; a number
with the precision the expected one has (``4.3`` for 4.27, ``"4.3x"``); a
schedule in any spelling the parser takes (``1,1,1,1,1,0*`` is ``1*5,0*``); a
check by the name of its C function.  Plain text (a ``print``), so it reads the
same in JupyterLab and under nbgrader.
"""

from __future__ import annotations

import re
from typing import Any

#: what a question's variable holds until the student answers it
UNANSWERED = ...

#: label -> (expected, why, show, hint): what reveal() prints, and what was asked
_asked: dict[str, tuple[Any, str, Any, str]] = {}
#: label -> wrong answers so far
_wrong: dict[str, int] = {}

_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+))\s*(x|%|times)?\s*$", re.I)


def _text(value: str) -> str:
    text = value.strip().strip("`'\"").strip().lower()
    text = re.sub(r"\(\)$", "", text)
    return text.replace("mmap_sem", "mmap_lock")


def _schedule(value: Any) -> list[tuple[int, int | None]] | None:
    """A schedule's canonical runs (consecutive steps of one thread merged), or None."""
    if not isinstance(value, str) or not re.search(r"\d", value) or "," not in value and (
            "*" not in value):
        return None
    from ..sched import parse_schedule

    try:
        runs = parse_schedule(value)
    except ValueError:
        return None
    out: list[tuple[int, int | None]] = []
    for tid, count in runs:
        if out and out[-1][0] == tid and out[-1][1] is not None:
            prev = out[-1][1]
            out[-1] = (tid, None if count is None else prev + count)
        else:
            out.append((tid, count))
    return out


def _check_function(name: str) -> set[str]:
    """The C function a check of the registry is in, as a student may name it."""
    try:
        from ..model.checks import get
        fn = get(name).function
    except Exception:  # noqa: BLE001 - not a check's name
        return set()
    return {fn, fn.removesuffix("_speculative")}


def same(answer: Any, expected: Any) -> bool:
    """Whether ``answer`` is ``expected`` in one of its equivalent forms."""
    if isinstance(expected, bool) or isinstance(answer, bool):
        return type(answer) is type(expected) and answer == expected
    if isinstance(expected, float) or (isinstance(expected, int) and isinstance(answer, float)):
        m = _NUMBER.match(str(answer)) if isinstance(answer, str) else None
        got = float(m.group(1)) if m else answer if isinstance(answer, int | float) else None
        if got is None:
            return False
        decimals = len(repr(float(expected)).split(".")[1]) if isinstance(expected, float) else 0
        return abs(got - expected) <= 0.5 * 10 ** -decimals + 1e-9
    if isinstance(expected, int):
        if isinstance(answer, str):
            text = _text(answer)
            m = _NUMBER.match(text)
            try:
                return int(text, 0) == expected
            except ValueError:
                return bool(m) and float(m.group(1)) == expected
        return answer == expected
    if isinstance(expected, str) and isinstance(answer, str):
        if _text(answer) == _text(expected):
            return True
        want = _schedule(expected)
        if want is not None and _schedule(answer) == want:
            return True
        return _text(answer) in {_text(f) for f in _check_function(expected)}
    return answer == expected


def check(label: str, answer: Any, expected: Any, why: str, show: Any = repr, *,
          hint: str = "") -> bool:
    """Print ``label``: right (with ``why``), or not yet (with ``hint``, never the
    answer); True when right.  ``show`` formats the answer for :func:`reveal`."""
    _asked[label] = (expected, why, show, hint)
    if answer is UNANSWERED:
        print(f"{label}: not answered yet (set it in the cell above, then run this one again)")
        return False
    if same(answer, expected):
        print(f"{label}: right. {why}")
        return True
    _wrong[label] = _wrong.get(label, 0) + 1
    more = ("" if _wrong[label] < 2 else
            f' (to see the answer: reveal("{label}"), from spfteach.drills.selfcheck)')
    print(f"{label}: not yet. {hint or 'Look again at the cells above it.'}{more}")
    return False


def reveal(label: str) -> None:
    """Print the answer to ``label`` (asked for: a check ran it before), and why."""
    if label not in _asked:
        print(f"{label}: run its check first, then ask")
        return
    expected, why, show, _ = _asked[label]
    print(f"{label}: the answer is {show(expected)}. {why}")
