"""Run a long command with a log file and a progress line, and fail in one line.

A kernel build prints thousands of lines; a user wants to know that it is alive,
how long it has run, and what it is doing now.  So the full output goes to a log
file under ``<build>/logs/``, and every few seconds one line shows the elapsed
time and the last ``make`` target (``CC mm/memory.o``).  On a terminal that line
is rewritten in place; in a CI log it is a new line each time.  When the command
fails, the error is the first compiler/make error of the log plus the log's path.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from .errors import KernelError

#: A kbuild "quiet" line: two spaces, an upper-case verb, a target (``  CC      mm/memory.o``).
_KBUILD_LINE = re.compile(r"^\s{2}[A-Z][A-Z0-9_\[\]]+\s+\S")
#: Lines that explain a failure, in order of preference.
_ERROR_LINES = (re.compile(r"\berror:"), re.compile(r"undefined reference|No rule to make target"),
                re.compile(r"\*\*\*"), re.compile(r"(?i)\berror\b"))


class Progress:
    """Messages of the pipeline, on stderr so that ``--json`` keeps stdout clean."""

    def __init__(self, stream: TextIO | None = None, every: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.every = every
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def say(self, message: str) -> None:
        print(f"kernel: {message}", file=self.stream, flush=True)

    def tick(self, label: str, elapsed: float, last: str) -> None:
        line = f"kernel: {label} {elapsed:5.0f}s  {last.strip()}"[:150]
        if self.tty:
            print(f"\r\033[K{line}", end="", file=self.stream, flush=True)
        else:
            print(line, file=self.stream, flush=True)

    def done(self) -> None:
        if self.tty:
            print("\r\033[K", end="", file=self.stream, flush=True)


def first_error(lines: list[str]) -> str:
    """The line that best explains a failed build (the first compiler error, else make's)."""
    for pattern in _ERROR_LINES:
        for line in lines:
            if pattern.search(line):
                return line.strip()
    return lines[-1].strip() if lines else "(no output)"


def run_logged(cmd: list[str], *, log: Path, label: str, progress: Progress,
               cwd: Path | None = None, env: dict[str, str] | None = None,
               timeout: float | None = None) -> float:
    """Run ``cmd`` with its output in ``log`` and a progress line; return the seconds it took.

    Raises KernelError naming the first error line and the log when it fails or
    runs past ``timeout``.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    last = [" ".join(cmd)[:100]]
    seen_kbuild = [False]
    lines: list[str] = []
    with open(log, "w", encoding="utf-8", errors="replace") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", start_new_session=True)

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                lines.append(line)
                # Show make's targets; other lines only until make starts printing them.
                if _KBUILD_LINE.match(line):
                    seen_kbuild[0] = True
                    last[0] = line.rstrip()
                elif line.strip() and not seen_kbuild[0]:
                    last[0] = line.rstrip()

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            while True:
                try:
                    proc.wait(timeout=progress.every)
                    break
                except subprocess.TimeoutExpired:
                    elapsed = time.monotonic() - start
                    progress.tick(label, elapsed, last[0])
                    if timeout is not None and elapsed > timeout:
                        _kill(proc)
                        raise KernelError(f"{label} did not finish within {timeout:.0f} s; "
                                          f"log: {log}") from None
        except BaseException:
            _kill(proc)
            raise
        finally:
            reader.join(timeout=5)
            progress.done()
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise KernelError(f"{label} failed (exit {proc.returncode}) after {seconds:.0f} s: "
                          f"{first_error(lines)} — full log: {log}")
    return seconds


def _kill(proc: subprocess.Popen) -> None:
    """Stop the command and its children (make spawns many): its own process group."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
