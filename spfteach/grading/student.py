"""The student's code, run in the worker only: compiled from its source text into
a namespace that holds the names the exercise gives and a few harmless builtins
(no ``open``, no ``__import__``), and errors reported at the student's line.

The source is compiled under the file name :data:`FILENAME`, so a traceback can
be cut down to the student's own frames: feedback names the exception and the
line of the student's cell, never the grader's stack.
"""

from __future__ import annotations

import builtins
import traceback
from collections.abc import Callable
from typing import Any

FILENAME = "<student>"

_SAFE = ("abs", "all", "any", "bool", "dict", "divmod", "enumerate", "filter", "float",
         "frozenset", "int", "isinstance", "len", "list", "map", "max", "min", "range",
         "reversed", "set", "sorted", "str", "sum", "tuple", "zip", "print", "repr",
         "ArithmeticError", "AssertionError", "Exception", "IndexError", "KeyError",
         "RuntimeError", "TypeError", "ValueError", "ZeroDivisionError", "NotImplementedError",
         "True", "False", "None", "hex")


class StudentError(Exception):
    """The student's code failed: the message says how and where, in one line."""


def load(source: str, name: str, given: dict[str, Any] | None = None) -> Callable[..., Any]:
    """Execute ``source`` and return the function ``name`` it defines."""
    fn = run_cell(source, given).get(name)
    if not callable(fn):
        raise StudentError(f"your code does not define a function {name}()")
    return fn


def value(source: str, name: str, given: dict[str, Any] | None = None) -> Any:
    """Execute ``source`` (an answer cell) and return what it binds to ``name``."""
    ns = run_cell(source, given)
    if name not in ns:
        raise StudentError(f"your answer cell does not set {name}")
    return ns[name]


def run_cell(source: str, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute ``source`` with the safe builtins and ``given``; its namespace."""
    ns: dict[str, Any] = {"__builtins__": {k: getattr(builtins, k) for k in _SAFE},
                          "__name__": "student"}
    ns.update(given or {})
    try:
        code = compile(source, FILENAME, "exec")
        exec(code, ns)  # noqa: S102 - the point: the student's cell, in the worker only
    except SyntaxError as e:
        raise StudentError(f"SyntaxError: {e.msg} (line {e.lineno} of your code)") from None
    except Exception as e:  # noqa: BLE001
        raise StudentError(describe(e, source)) from None
    return ns


def describe(e: BaseException, source: str) -> str:
    """``ZeroDivisionError: division by zero at line 3 of your code: return 1 / 0``:
    the innermost frame of the student's code in ``e``'s traceback (or its cause's)."""
    err: BaseException | None = e
    while err is not None:
        frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == FILENAME]
        if frames:
            line = frames[-1].lineno or 0
            lines = source.splitlines()
            text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
            if isinstance(err, NotImplementedError):
                return f"no answer yet: line {line} of your cell still raises NotImplementedError"
            what = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            return (f"{what} at line {line} of your code"
                    + (f": {text}" if text else ""))
        err = err.__cause__ or err.__context__
    return f"{type(e).__name__}: {e}"


def find_student_error(e: BaseException) -> BaseException | None:
    """The exception raised in the student's code that ``e`` wraps (a model error
    whose cause is the student's function), or None: a bug of the grader."""
    err: BaseException | None = e
    while err is not None:
        if isinstance(err, StudentError) or any(
                f.filename == FILENAME for f in traceback.extract_tb(err.__traceback__)):
            return err
        err = err.__cause__ or err.__context__
    return None
