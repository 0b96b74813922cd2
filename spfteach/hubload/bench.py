"""What one student costs, under load: ``make bench`` (``python -m spfteach.hubload.bench``).

N simulated students (:class:`~.student.Student`), each with its own Jupyter server and a kernel
showing notebook 05's stepper, click *Step* through the kernel's websocket at a student's pace
(one click every 2-5 s, seeded), for N = 10, 20, 40, 80: the students of a size stay on while
the next size adds its own.  Per size: the resident memory of each student's server with its
kernel (RSS and PSS, ``/proc``), p50/p95 of a Step click (send to idle), the CPU of the hub and
its proxy (when there is a hub) and of the students' processes.  Then notebooks 04 and 05 run
whole, each in a kernel of its own: the kernel a student who did the notebook ends with, which
the sizing takes as the largest kernel.  The servers come through the hub
(:mod:`.hubfleet`, root) or, with ``--fleet servers`` or without root, one ``jupyter lab`` per
student started here (:class:`OwnServers`; the output says NO HUB).  A size that would bring
``MemAvailable`` below a safe margin is not started (this machine has no swap: past it the
kernel's OOM killer picks a process).  Prints a table and writes :data:`OUT_NAME` (in the
checkout's ``spfteach/data/``), from which the README sizes a machine the way The Littlest
JupyterHub does: memory per user x concurrent users + overhead.  Measures, does not assert.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .. import resources
from . import procstat
from .student import Server, Student, StudentError

#: where the figures go (the one place the name is written): in the package data
#: (``spfteach/data/``, shipped in the wheel), written into a checkout's copy only
OUT_NAME = "hub-load.json"
SIZES = (10, 20, 40, 80)
NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
#: the notebooks run whole, each in a kernel of its own, for the kernel a student ends with
NOTEBOOKS = ("04-speculative-path", "05-races-and-checks")
GIB = 1 << 20  # KiB in a GiB
#: headroom on the measured memory per student, as TLJH's estimate advises (20-40%)
HEADROOM = 0.3


class Fleet(Protocol):
    """Where the students' servers come from: a hub, or servers started here."""

    kind: str
    note: str

    async def add(self, n: int) -> list[Server]:
        """``n`` more running servers, each with its token."""
        ...

    def pids(self, server: Server) -> list[int]:
        """The processes of one student (its server and its kernels)."""
        ...

    def hub_pids(self) -> list[int]:
        """The hub's own processes (hub, proxy); none without a hub."""
        ...

    def close(self) -> None:
        ...


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_up(server: Server, timeout: float = 120.0) -> None:
    """Wait until the server answers ``GET api/status`` with its token."""
    client = AsyncHTTPClient()
    deadline = time.monotonic() + timeout
    while True:
        try:
            await client.fetch(HTTPRequest(server.url("api/status"), request_timeout=5,
                                           headers={"Authorization": f"token {server.token}"}))
            return
        except (ConnectionError, HTTPClientError, OSError, asyncio.TimeoutError):
            if time.monotonic() > deadline:
                raise StudentError(f"{server.base_url} did not come up in {timeout:.0f} s") \
                    from None
            await asyncio.sleep(0.5)


@dataclass
class OwnServers:
    """One ``jupyter lab`` per student, started here on 127.0.0.1 with its own token and
    directory: the server a hub's LocalProcessSpawner would start, without the hub (so no hub
    CPU is measured, and every server runs as this user)."""

    kind: str = "own servers (no hub)"
    note: str = ("one `jupyter lab` per student started by the benchmark, no JupyterHub: "
                 "no hub or proxy in the figures")
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="spf-hubload-")))
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def _command(self, port: int, token: str, home: Path) -> list[str]:
        return [str(Path(sys.executable).with_name("jupyter-lab")), "--no-browser",
                "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={home}", "--ServerApp.open_browser=False",
                *(["--allow-root"] if os.geteuid() == 0 else [])]

    async def add(self, n: int) -> list[Server]:
        out = []
        for _ in range(n):
            i = len(self.procs)
            home = self.root / f"student{i:03d}"
            home.mkdir(parents=True, exist_ok=True)
            port, token = _free_port(), secrets.token_hex(16)
            env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(home / ".runtime")}
            with (self.root / f"student{i:03d}.log").open("wb") as log:
                proc = subprocess.Popen(self._command(port, token, home), stdout=log,
                                        stderr=subprocess.STDOUT, cwd=home, env=env,
                                        start_new_session=True)
            server = Server(f"http://127.0.0.1:{port}/", token, proc.pid)
            self.procs[server.base_url] = proc
            out.append(server)
        # start them all, then wait: the servers start in parallel
        await asyncio.gather(*(wait_up(s) for s in out))
        return out

    def pids(self, server: Server) -> list[int]:
        return procstat.tree(server.pid) if server.pid else []

    def hub_pids(self) -> list[int]:
        return []

    def close(self) -> None:
        """Stop every server (their kernels with them); a second call does nothing."""
        procs, self.procs = self.procs, {}
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def _pct(values: Sequence[float], q: int) -> float:
    if len(values) < 2:
        return round(values[0], 1) if values else float("nan")
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 1)


def _cpu(pids: Sequence[int]) -> float:
    return sum(procstat.cpu_seconds(p) for p in pids)


@dataclass
class Bench:
    fleet: Fleet
    seconds: float = 60.0
    seed: int = 1
    pace: tuple[float, float] = (2.0, 5.0)
    margin_kib: int = 0
    students: list[Student] = field(default_factory=list)
    servers: list[Server] = field(default_factory=list)

    def _student_pids(self) -> list[list[int]]:
        return [self.fleet.pids(s) for s in self.servers]

    async def grow(self, n: int) -> float:
        """Bring the fleet to ``n`` students, each with its stepper open; the seconds it took."""
        t0 = time.monotonic()
        new = await self.fleet.add(n - len(self.servers))
        # a kernel starting beside forty others on two cores may take minutes to answer
        added = [Student(s, name=f"student{len(self.servers) + i:03d}", timeout=240)
                 for i, s in enumerate(new)]
        self.servers += new
        # a few at a time: forty kernels importing the workbook at once only queue on the CPU
        sem = asyncio.Semaphore(4)

        async def ready(st: Student) -> None:
            async with sem:
                await st.start()
                await st.open_stepper()
        await asyncio.gather(*(ready(st) for st in added))
        self.students += added
        return time.monotonic() - t0

    async def window(self) -> dict[str, object]:
        """Every student clicks for :attr:`seconds`; what it cost."""
        n = len(self.students)
        marks = [len(st.clicks) for st in self.students]
        hub = self.fleet.hub_pids()
        trees = self._student_pids()
        cpu_hub0, cpu_st0 = _cpu(hub), _cpu([p for t in trees for p in t])
        t0 = time.monotonic()
        until = t0 + self.seconds
        rngs = [random.Random(self.seed * 100_003 + n * 1_009 + i) for i in range(n)]
        results = await asyncio.gather(
            *(st.work(until, rng, self.pace) for st, rng in zip(self.students, rngs, strict=True)),
            return_exceptions=True)
        wall = time.monotonic() - t0
        cpu_hub, cpu_st = _cpu(hub) - cpu_hub0, _cpu([p for t in trees for p in t]) - cpu_st0
        errors = [f"{st.name}: {r}" for st, r in zip(self.students, results, strict=True)
                  if isinstance(r, BaseException)]
        clicks = [c for st, m in zip(self.students, marks, strict=True) for c in st.clicks[m:]]
        steps = [c.seconds * 1000 for c in clicks if c.label.startswith("Step")]
        advanced = sum(1 for c in clicks if c.label.startswith("Step")
                       and c.steps_after == c.steps_before + 1)
        split = [_split(self.fleet.pids(s)) for s in self.servers]
        mems = [a + b for a, b in split]
        hub_mem = sum((procstat.memory(p) for p in hub), procstat.Mem())
        return {
            "students": n, "seconds": round(wall, 1),
            "step_clicks": len(steps), "step_clicks_that_advanced": advanced,
            "reset_clicks": len(clicks) - len(steps), "errors": errors,
            "p50_ms": _pct(steps, 50), "p95_ms": _pct(steps, 95),
            "max_ms": round(max(steps), 1) if steps else float("nan"),
            "per_student_rss_mib": _mib_stats([m.rss_kib for m in mems]),
            "per_student_pss_mib": _mib_stats([m.pss_kib for m in mems]),
            "server_pss_mib": _mib_stats([a.pss_kib for a, _ in split]),
            "kernel_pss_mib": _mib_stats([b.pss_kib for _, b in split]),
            "processes_per_student": max((len(t) for t in trees), default=0),
            "students_cpu_cores": round(cpu_st / wall, 3),
            "hub_cpu_cores": round(cpu_hub / wall, 3) if hub else None,
            "hub_rss_mib": round(hub_mem.rss_kib / 1024, 1) if hub else None,
            "hub_pss_mib": round(hub_mem.pss_kib / 1024, 1) if hub else None,
            "mem_available_gib": round(procstat.mem_available_kib() / GIB, 2),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }

    async def whole_notebook(self, name: str) -> dict[str, object]:
        """A kernel of its own on the first student's server runs every code cell of
        notebook ``name`` in order (in notebooks/, as the tests run them): its memory then is
        what a student who worked through the notebook holds in that kernel."""
        server = self.servers[0]
        before = set(self.fleet.pids(server))
        st = Student(server, name=f"notebook {name}", timeout=900)
        await st.start()
        try:
            kernel = [p for p in self.fleet.pids(server) if p not in before]
            cells = [c for c in json.loads((NOTEBOOK_DIR / f"{name}.ipynb").read_text())["cells"]
                     if c["cell_type"] == "code"]
            t0 = time.monotonic()
            await st.execute(f"import os; os.chdir({str(NOTEBOOK_DIR)!r})")
            for c in cells:
                await st.execute("".join(c["source"]))
            took = time.monotonic() - t0
            mem = sum((procstat.memory(p) for p in kernel), procstat.Mem())
        finally:
            await st.stop()
        return {"notebook": name, "code_cells": len(cells), "seconds": round(took, 1),
                "kernel_rss_mib": round(mem.rss_kib / 1024, 1),
                "kernel_pss_mib": round(mem.pss_kib / 1024, 1)}

    def room_for(self, n: int) -> tuple[bool, str]:
        """Whether growing to ``n`` keeps MemAvailable above the margin, judged on the largest
        student's PSS measured so far (1 GiB each before any is measured) plus half again for
        a server's start-up.  PSS, not RSS: what N servers take from MemAvailable is their
        PSS (the shared libraries are counted once), as the record's MemAvailable shows."""
        more = n - len(self.servers)
        mems = [sum((procstat.memory(p) for p in self.fleet.pids(s)), procstat.Mem()).pss_kib
                for s in self.servers]
        each = max(mems, default=GIB)
        need = int(more * each * 1.5)
        avail = procstat.mem_available_kib()
        ok = avail - need >= self.margin_kib
        why = (f"{n} students: {more} more x {each / 1024:.0f} MiB PSS x 1.5 = "
               f"{need / GIB:.1f} GiB of {avail / GIB:.1f} GiB available, margin "
               f"{self.margin_kib / GIB:.1f} GiB")
        return ok, why

    async def run(self, sizes: Sequence[int],
                  notebooks: Sequence[str] = NOTEBOOKS) -> dict[str, object]:
        rows: list[dict[str, object]] = []
        whole: list[dict[str, object]] = []
        stopped = ""
        try:
            for n in sizes:
                ok, why = self.room_for(n)
                if not ok:
                    stopped = f"stopped before {why}"
                    print(f"  {stopped}", flush=True)
                    break
                print(f"  {n} students: starting ({why}) ...", flush=True)
                try:
                    took = await self.grow(n)
                except (StudentError, OSError, HTTPClientError, asyncio.TimeoutError) as e:
                    # the sizes measured so far stand; this one is reported, not measured
                    stopped = (f"{n} students: could not start them all "
                               f"({type(e).__name__}: {e})")
                    print(f"  {stopped}", flush=True)
                    break
                print(f"  {n} students: up in {took:.0f} s; clicking for {self.seconds:.0f} s",
                      flush=True)
                row = await self.window()
                row["startup_seconds"] = round(took, 1)
                rows.append(row)
                print("  " + _row_text(row), flush=True)
            for name in notebooks if self.servers else ():
                print(f"  notebook {name}: every code cell in a kernel of its own ...",
                      flush=True)
                whole.append(await self.whole_notebook(name))
                print(f"  notebook {name}: kernel PSS {whole[-1]['kernel_pss_mib']} MiB "
                      f"({whole[-1]['seconds']} s)", flush=True)
        finally:
            await asyncio.gather(*(st.stop() for st in self.students), return_exceptions=True)
        return {"fleet": self.fleet.kind, "note": self.fleet.note, "sizes": rows,
                "stopped": stopped, "whole_notebooks": whole}


def _split(pids: Sequence[int]) -> tuple[procstat.Mem, procstat.Mem]:
    """A student's memory: (the server's processes, the kernels')."""
    server, kernels = procstat.Mem(), procstat.Mem()
    for p in pids:
        if procstat.is_kernel(p):
            kernels += procstat.memory(p)
        else:
            server += procstat.memory(p)
    return server, kernels


def _mib_stats(kib: Sequence[int]) -> dict[str, float]:
    if not kib:
        return {"mean": float("nan"), "max": float("nan")}
    return {"mean": round(statistics.mean(kib) / 1024, 1), "max": round(max(kib) / 1024, 1)}


HEADER = (f"{'N':>4} {'clicks':>6} {'p50 ms':>7} {'p95 ms':>7} {'RSS/stud MiB':>13} "
          f"{'PSS/stud MiB':>13} {'stud CPU':>9} {'hub CPU':>8} {'avail GiB':>9} {'load1':>6}")


def _row_text(r: dict) -> str:
    hub = "-" if r["hub_cpu_cores"] is None else f"{r['hub_cpu_cores']:.3f}"
    return (f"{r['students']:>4} {r['step_clicks']:>6} {r['p50_ms']:>7} {r['p95_ms']:>7} "
            f"{r['per_student_rss_mib']['mean']:>13} {r['per_student_pss_mib']['mean']:>13} "
            f"{r['students_cpu_cores']:>9.3f} {hub:>8} {r['mem_available_gib']:>9} "
            f"{r['load_average'][0]:>6}")


def sizing(res: dict, total_gib: float = 24.0, os_reserve_gib: float = 2.0) -> dict[str, object]:
    """Students one machine of ``total_gib`` holds, TLJH's way: memory = concurrent users x
    memory per user + overhead.  Memory per user: the largest server PSS seen at the largest
    size, plus the largest kernel seen (the stepper's, or one that ran a whole notebook), plus
    :data:`HEADROOM`; overhead: the hub and proxy (their PSS, when a hub ran) plus
    ``os_reserve_gib`` for the operating system."""
    rows = res["sizes"]
    if not rows:
        return {}
    last = rows[-1]
    kernels = [last["kernel_pss_mib"]["max"]] + [
        w["kernel_pss_mib"] for w in res.get("whole_notebooks", [])]
    measured = last["server_pss_mib"]["max"] + max(kernels)
    per_user = measured * (1 + HEADROOM)
    hub = last["hub_pss_mib"] or 0.0
    overhead = hub + os_reserve_gib * 1024
    users = int((total_gib * 1024 - overhead) // per_user)
    return {"measured_per_user_mib": round(measured, 1),
            "memory_per_user_mib": round(per_user, 1), "headroom": HEADROOM,
            "hub_overhead_mib": hub, "os_reserve_mib": os_reserve_gib * 1024,
            "machine_gib": total_gib, "concurrent_students": users,
            "formula": "concurrent = (machine - hub - OS reserve) / "
                       "((server PSS + largest kernel PSS) x 1.3)"}


class NoHub(Exception):
    """``--fleet hub`` asked for and the hub cannot run here (why, in one line)."""


def choose_fleet(which: str) -> tuple[Fleet, str]:
    """The fleet asked for: ``hub`` (LocalHub; root, ``make setup``'s .venv-hub), ``servers``
    (one jupyter lab per student, no hub) or ``auto`` (the hub when it can run here).  The
    second value says why the hub was not used ("" when it was)."""
    if which in ("hub", "auto"):
        from .hubfleet import HubFleet, available

        why = available()
        if not why:
            return HubFleet(), ""
        if which == "hub":
            raise NoHub(why)
        return OwnServers(), why
    return OwnServers(), "--fleet servers asked for"


async def _main(args: argparse.Namespace, fleet: Fleet) -> dict[str, object]:
    bench = Bench(fleet, seconds=args.seconds, seed=args.seed,
                  margin_kib=int(args.margin_gib * GIB))
    try:
        res = await bench.run(args.sizes, args.notebooks)
    finally:
        fleet.close()
    return res


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not sizes or any(b <= a for a, b in zip(sizes, sizes[1:], strict=False)) or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes must grow, from 1 up (e.g. 10,20,40)")
    return sizes


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spfteach.hubload.bench",
                                 description="N simulated students clicking Step through "
                                 "their kernels' websockets: memory, latency, hub CPU.")
    ap.add_argument("--sizes", type=_sizes, default=list(SIZES),
                    help="student counts, growing (default 10,20,40,80)")
    ap.add_argument("--seconds", type=float, default=60.0,
                    help="seconds of clicking at each size (default 60)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--margin-gib", type=float, default=4.0,
                    help="never start a size that would leave less MemAvailable (default 4)")
    ap.add_argument("--notebooks", default=",".join(NOTEBOOKS),
                    help="notebooks run whole afterwards, each in a kernel of its own, for "
                    "the memory of a kernel that did all of one ('' for none; default "
                    f"{','.join(NOTEBOOKS)})")
    ap.add_argument("--fleet", choices=("auto", "hub", "servers"), default="auto",
                    help="the students' servers: through JupyterHub (root; the default when it "
                    "can run), or one jupyter lab each started here")
    ap.add_argument("--out", type=Path, default=None,
                    help=f"where to write the record (default: the checkout's "
                    f"spfteach/data/{OUT_NAME})")
    args = ap.parse_args(argv)
    if args.out is None:
        args.out = resources.checkout_data_or_exit("hubload") / OUT_NAME
    if args.seconds < 10:
        ap.error("--seconds must be at least 10 (a student clicks every 2-5 s)")
    args.notebooks = [n.strip().removesuffix(".ipynb") for n in args.notebooks.split(",")
                      if n.strip()]
    missing = [n for n in args.notebooks if not (NOTEBOOK_DIR / f"{n}.ipynb").exists()]
    if missing:
        ap.error(f"no notebook {missing[0]}.ipynb in {NOTEBOOK_DIR} (name one of "
                 f"{', '.join(sorted(p.stem for p in NOTEBOOK_DIR.glob('*.ipynb')))})")
    try:
        fleet, no_hub = choose_fleet(args.fleet)
    except NoHub as e:
        print(f"hubload: cannot run the hub: {e}; or use --fleet servers", file=sys.stderr)
        return 2
    print(f"hub load: {args.sizes} students, {args.seconds:.0f} s of Step clicks each size, "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    if no_hub:
        print(f"NO HUB: {no_hub}; each student gets a `jupyter lab` started here, and no hub "
              "or proxy CPU is measured", flush=True)
    t0 = time.monotonic()
    # a SIGTERM (or a ^C) must still stop the servers and, with a hub, remove its Unix users
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        res = asyncio.run(_main(args, fleet))
    except KeyboardInterrupt as e:
        fleet.close()
        print(f"hubload: interrupted ({e or 'SIGINT'}); the servers are stopped, nothing "
              "written", file=sys.stderr)
        return 130
    finally:
        fleet.close()
    res["sizing_24gib"] = sizing(res)
    res["pace_seconds"] = [2.0, 5.0]
    res["seed"] = args.seed
    res["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                      "mem_total_gib": round(procstat.mem_total_kib() / GIB, 1),
                      "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
                      "shared": "measured on a machine shared with other jobs",
                      "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    res["wall_seconds"] = round(time.monotonic() - t0, 1)
    key = "servers" if isinstance(fleet, OwnServers) else "hub"
    record: dict[str, object] = {}
    if args.out.exists():
        try:
            record = json.loads(args.out.read_text())
        except json.JSONDecodeError:
            record = {}
    record[key] = res  # the other fleet's last run is kept beside this one
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"students' servers: {res['fleet']}")
    print(HEADER)
    for r in res["sizes"]:  # type: ignore[union-attr]
        print(_row_text(r))
    if res["stopped"]:
        print(res["stopped"])
    sz = res["sizing_24gib"]
    if sz:
        print(f"24 GiB holds {sz['concurrent_students']} concurrent students "
              f"({sz['formula']}; {sz['memory_per_user_mib']} MiB each)")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
