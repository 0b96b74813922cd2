"""What a process costs, read from ``/proc``: memory (RSS, PSS) and CPU seconds.

RSS counts every page a process maps, shared ones (libpython, numpy's libraries) in full in
each process; PSS divides each shared page among the processes that map it, so the PSS of N
student servers adds up to what they take from the machine.  Both are read because both are
quoted: RSS is what ``top`` and JupyterHub's resource-usage extension show, PSS is what sizes a
machine.  Linux only (``/proc/<pid>/smaps_rollup`` since Linux 4.14).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Mem:
    """Resident memory in KiB: RSS and PSS."""

    rss_kib: int = 0
    pss_kib: int = 0

    def __add__(self, other: Mem) -> Mem:
        return Mem(self.rss_kib + other.rss_kib, self.pss_kib + other.pss_kib)


def _field(text: str, name: str) -> int:
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def memory(pid: int) -> Mem:
    """RSS and PSS of one process (zero when it is gone)."""
    try:
        rss = _field((PROC / str(pid) / "status").read_text(), "VmRSS")
        pss = _field((PROC / str(pid) / "smaps_rollup").read_text(), "Pss")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return Mem()
    return Mem(rss, pss)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used (zero when it is gone)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after "(comm)", which may hold spaces
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14, 15)


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, real uid, command line) of every process now."""
    out: dict[int, tuple[int, int, str]] = {}
    for d in PROC.iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            uid = int(_field((d / "status").read_text(), "Uid"))
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        out[int(d.name)] = (int(stat.rsplit(")", 1)[1].split()[1]), uid, cmd.strip())
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it (a Jupyter server and its kernels)."""
    procs = _processes()
    children: dict[int, list[int]] = {}
    for p, (ppid, _uid, _cmd) in procs.items():
        children.setdefault(ppid, []).append(p)
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in procs:
            out.append(p)
            todo.extend(children.get(p, []))
    return sorted(out)


def owned_by(uid: int) -> list[int]:
    """Every process whose real uid is ``uid`` (a hub user's server and its kernels)."""
    return sorted(p for p, (_pp, u, _c) in _processes().items() if u == uid)


def matching(*needles: str) -> list[int]:
    """Processes whose command line contains every one of ``needles``."""
    me = os.getpid()
    return sorted(p for p, (_pp, _u, cmd) in _processes().items()
                  if p != me and all(n in cmd for n in needles))


def cmdline(pid: int) -> str:
    """The process's command line, words joined by spaces ("" when it is gone)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def is_kernel(pid: int) -> bool:
    """Whether the process is an IPython kernel (``python -m ipykernel_launcher ...``)."""
    return "ipykernel" in cmdline(pid)


def mem_available_kib() -> int:
    """``MemAvailable`` of ``/proc/meminfo``: what can still be had without swapping."""
    return _field((PROC / "meminfo").read_text(), "MemAvailable")


def mem_total_kib() -> int:
    return _field((PROC / "meminfo").read_text(), "MemTotal")
