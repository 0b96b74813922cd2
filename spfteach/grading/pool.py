"""Judge processes: one for a notebook's self-check, a pool for a class.

A judge process is a fresh interpreter (``python -I``) importing this package
and running :func:`.judge.serve`: a notebook that rebinds the grader's names
changes nothing in it, and the grade a self-check shows is the grade autograde
computes.  For a class, :class:`Pool` keeps one judge process per core busy and
grades identical answers once: the verdict of a deterministic answer is a
function of the answer (its source, and the student's id where the problem
depends on it), so the second copy gets the first one's result.
"""

from __future__ import annotations

import json
import os
import queue
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from . import exercises
from .judge import DEFAULT_TIMEOUT
from .result import Result

#: The directory holding the ``spfteach`` package this module belongs to.
PACKAGE_PARENT = Path(__file__).resolve().parent.parent.parent
#: Seconds a judge process gets to start (import the engine) and, per part, to
#: explore beyond the part's jail time, before it counts as hung (a bug of spfteach).
STARTUP, EXPLORE = 60.0, 120.0

Task = tuple[str, dict]


def key(exercise: str, args: dict, timeout: float = DEFAULT_TIMEOUT) -> str:
    """What makes two tasks the same grading: the exercise, the answer, the
    limits, and the student's id only where the problem depends on it."""
    ex = exercises.EXERCISES[exercise]
    a = dict(args)
    if ex.per_student:
        a["student_id"] = exercises.canonical_id(a.get("student_id", ""))
    else:
        a.pop("student_id", None)
    return json.dumps([exercise, a, timeout], sort_keys=True)


#: The function a judge process runs (module, name).
JUDGE = ("spfteach.grading.judge", "serve")


class JudgeProcess:
    """One judge process; :meth:`grade` sends a task and waits for its result."""

    def __init__(self, entry: tuple[str, str] = JUDGE) -> None:
        boot = (f"import sys; sys.path.insert(0, {str(PACKAGE_PARENT)!r}); "
                f"from {entry[0]} import {entry[1]}; {entry[1]}()")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        self.proc = subprocess.Popen([sys.executable, "-I", "-c", boot], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env)
        self.fresh = True

    def grade(self, exercise: str, args: dict, timeout: float) -> Result:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        parts = len(exercises.plan(exercise, args))
        allowed = parts * (timeout + EXPLORE) + (STARTUP if self.fresh else 0.0)
        self.fresh = False
        try:
            self.proc.stdin.write((json.dumps({"exercise": exercise, "args": args,
                                               "timeout": timeout}) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:
            return _not_graded(exercise, "the judge process died")
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(allowed):
                self.close()
                return _not_graded(exercise, f"the judge did not finish in {allowed:g} s")
        line = self.proc.stdout.readline()
        if not line:
            return _not_graded(exercise, "the judge process died")
        msg = json.loads(line)
        if "bug" in msg:
            return _not_graded(exercise, f"the grader failed: {msg['bug']}")
        return Result.from_dict(msg["result"])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None and not f.closed:
                f.close()


def _not_graded(exercise: str, why: str) -> Result:
    return Result(exercise, (), refused=f"not graded: {why} (a bug of spfteach: please "
                                        "report it)")


def run(exercise: str, args: dict, timeout: float = DEFAULT_TIMEOUT) -> Result:
    """Grade one task in a fresh judge process (a notebook's self-check)."""
    jp = JudgeProcess()
    try:
        return jp.grade(exercise, args, timeout)
    finally:
        jp.close()


class Pool:
    """``jobs`` judge processes grading a class; identical tasks once."""

    def __init__(self, jobs: int = 0, timeout: float = DEFAULT_TIMEOUT,
                 entry: tuple[str, str] = JUDGE) -> None:
        self.jobs = jobs or os.cpu_count() or 1
        self.timeout = timeout
        self.entry = entry
        self.results: dict[str, Result] = {}
        self.graded = 0  # tasks actually sent to a judge (the rest were copies)
        self.seconds = 0.0

    def grade(self, tasks: Iterable[Task]) -> list[Result]:
        """The results of ``tasks``, in order."""
        tasks = list(tasks)
        keys = [key(ex, args, self.timeout) for ex, args in tasks]
        todo: dict[str, Task] = {}
        for k, t in zip(keys, tasks, strict=True):
            if k not in self.results and k not in todo:
                todo[k] = t
        started = time.monotonic()
        work: queue.Queue[tuple[str, Task]] = queue.Queue()
        for item in todo.items():
            work.put(item)
        lock = threading.Lock()

        def worker() -> None:
            jp: JudgeProcess | None = None
            try:
                while True:
                    try:
                        k, (ex, args) = work.get_nowait()
                    except queue.Empty:
                        return
                    if jp is None or not jp.alive():
                        jp = JudgeProcess(self.entry)
                    r = jp.grade(ex, args, self.timeout)
                    with lock:
                        self.results[k] = r
                        self.graded += 1
            finally:
                if jp is not None:
                    jp.close()

        threads = [threading.Thread(target=worker, daemon=True)
                   for _ in range(min(self.jobs, max(len(todo), 1)))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.seconds += time.monotonic() - started
        return [self.results[k] for k in keys]
