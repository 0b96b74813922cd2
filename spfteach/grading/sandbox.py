"""Run a grading task in a fresh process, with a time limit per part.

The parent never executes the student's code: it sends the task (the source
text, the answers) to :mod:`.worker` as JSON and reads the parts back as they
are graded.  A part that takes longer than ``timeout`` seconds is marked "timed
out after N s"; the worker is killed and a new one grades the parts that are
left, so a loop costs one part, not the exercise.  A worker that dies (a crash,
a ``sys.exit`` in a student's module-level code) costs the part it was on.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import integrity
from .result import Part, Result

#: Seconds a part may take (nbgrader's own cell limit is 30 s).
DEFAULT_TIMEOUT = 20.0
#: Extra seconds for a fresh worker to start (import the package, hash it).
STARTUP = 30.0


def _command(root: Path) -> list[str]:
    """``python -I`` importing ``spfteach`` from ``root`` and nowhere else."""
    boot = (f"import sys; sys.path.insert(0, {str(root.parent)!r}); "
            "from spfteach.grading.worker import main; main()")
    return [sys.executable, "-I", "-c", boot]


def run(exercise: str, args: dict, timeout: float = DEFAULT_TIMEOUT,
        root: Path = integrity.PACKAGE_ROOT, baseline: str | None = None,
        expect: str | None = None) -> Result:
    """Grade ``exercise`` with ``args`` in fresh workers; ``expect`` is a pinned
    package digest (see :mod:`.integrity`), ``baseline`` defaults to the one taken
    when ``spfteach.grading`` was imported."""
    task = {"exercise": exercise, "args": args, "root": str(root),
            "baseline": integrity.BASELINE if baseline is None else baseline,
            "expect": expect, "skip": []}
    plan: list[tuple[str, float]] | None = None
    parts: dict[str, Part] = {}
    while True:
        task["skip"] = sorted(parts)
        got_plan, new, stopped = _one_worker(task, timeout)
        if got_plan is None:
            if isinstance(stopped, str) and stopped.startswith("refused:"):
                return Result(exercise, tuple(), refused=stopped[len("refused:"):])
            return Result(exercise, (), notes=(f"the grader could not start: {stopped}",),
                          refused=f"not graded: the grader could not start ({stopped})")
        plan = got_plan
        parts.update({p.name: p for p in new})
        left = [(n, m) for n, m in plan if n not in parts]
        if not left:
            break
        name, mx = left[0]
        parts[name] = Part(name, 0.0, mx, stopped or "the grader stopped")
    return Result(exercise, tuple(parts[n] for n, _ in plan))


def _one_worker(task: dict, timeout: float) -> tuple[list | None, list[Part], str]:
    """One worker until it finishes, hangs on a part, or dies: the plan, the parts
    it graded, and why it stopped early ("" when it finished)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(_command(Path(task["root"])), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, env=_env())
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(task).encode())
        proc.stdin.close()
        plan: list | None = None
        parts: list[Part] = []
        buf = b""
        deadline = time.monotonic() + timeout + STARTUP
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        why = ""
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not sel.select(remaining):
                    why = f"timed out after {timeout:g} s"
                    break
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    proc.wait()
                    if plan is not None and len(parts) == len(plan) - len(task["skip"]):
                        return plan, parts, ""
                    err.seek(0)
                    tail = err.read().decode(errors="replace").strip().splitlines()
                    why = f"the grader stopped ({tail[-1] if tail else f'exit {proc.returncode}'})"
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    msg = json.loads(line)
                    if "refused" in msg:
                        return None, [], "refused:" + msg["refused"]
                    if "plan" in msg:
                        plan = [(str(n), float(m)) for n, m in msg["plan"]]
                    else:
                        parts.append(Part.from_dict(msg["part"]))
                    deadline = time.monotonic() + timeout
        finally:
            sel.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        return plan, parts, why


def _env() -> dict[str, str]:
    """The parent's environment without what would make Python import other code."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
