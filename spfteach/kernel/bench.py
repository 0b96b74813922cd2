"""The fault-throughput benchmark: what to run in the guest, what to keep, how to show it.

One boot runs ``faultbench`` four times per repetition: without and with a thread
doing mmap/munmap of unrelated ranges (which takes ``mmap_lock`` for writing over
and over), each with the ``vm.speculative_page_fault`` sysctl on and off; six times
where the kernel has THP, with a run on a ``MADV_HUGEPAGE`` mapping on each side.
Classic faults queue behind that writer; speculative ones do not, so the
interesting figure is the on/off ratio *with* the writer.  Emulated CPUs are noisy (one run's
ratio moved between 0.8x and 1.0x here), so the sequence is repeated and the
table gives each repetition's ratio and their median.  The published v9 figures
(``spfteach/data/spf-v9-ebizzy.json``, from the series' cover letter) are printed beside
ours: ebizzy's records/s on a 16-CPU VM and an 80-CPU Power8 against our faults/s
on a few emulated vCPUs, so compare ratios and speculative shares, not raw numbers.

Each bench run is saved as ``spfteach/data/kernel-bench/<time>-<host>.json``: the machine,
the QEMU mode and vCPUs, the kernel, every run, and the guest's whole document.

Linux 6.12's per-VMA locks (SPF's mainline successor) are compared the same way: 6.12 as
Debian ships it against 6.12 built without them (``v6.12-novma``), one boot each per
repetition beside the 6.1 kernels.  Each design is judged against its own baseline
(:data:`GAINS`: SPF on over off in one 6.1 kernel; 6.12 over 6.12-novma), since 6.1 and
6.12 differ in far more than the fault path; their ``vma_lock_*`` counters (how many
faults the per-VMA path handled) are kept with the ``spf_*`` ones.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import resources
from .layout import REPO

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

#: the series' published figures, shipped in the package (:mod:`spfteach.resources`)
PUBLISHED = resources.resource("spf-v9-ebizzy.json")
#: vmstat counters of the paths that avoid ``mmap_lock``: SPF's ``spf_*`` and
#: ``speculative_*`` (6.1 with the series), per-VMA locks' ``vma_lock_*`` (6.12).
SPF_COUNTER = re.compile(r"^(spf_|speculative_|vma_lock_)")
#: Faults handled under a per-VMA lock (CONFIG_PER_VMA_LOCK_STATS).
VMA_LOCK_COUNTER = "vma_lock_success"
#: Faults the speculative path handled to the end (the name v10 of the series used);
#: ``spf_attempt`` counts the tries and ``spf_abort_<reason>`` each way to give up.
SUCCESS_COUNTER = "speculative_pgfault"
#: First touches: faults in a VMA that has no anon_vma yet.  The first write there must create
#: it, and ``__anon_vma_prepare()`` needs ``mmap_lock`` (it links the VMA into anon_vma chains),
#: so the speculative path gives up on any fault in such a VMA and counts it here; once the
#: anon_vma exists, every later fault in that VMA can be speculative.
FIRST_TOUCH_COUNTER = "spf_abort_no_anon_vma"
#: Done-means of the port (issue 3): with the sysctl on, at least this share of the faults
#: after first touch are handled speculatively; with it off, none.
TARGET_SHARE = 0.95
#: The workloads the 95 % share target holds (one shared mapping, with or without a writer).
SHARE_WORKLOADS = ("no_writer", "writer")
#: KiB per buffer of the own-buffer workload: 64 pages, mapped, written and unmapped.
OWN_BUF_KB = 256


def guest_args(threads: int, mb: int, rounds: int, spf: bool, repeat: int = 1,
               thp: bool = False, own: bool = False, warmup: bool = False) -> list[str]:
    """``/init``'s steps: per repetition, writer off/on (THP, own buffers) with the sysctl on,
    then off.

    On and off alternate within each repetition, so a slow drift of the host's load
    touches both sides of a ratio alike.  Without the sysctl (a kernel without SPF)
    there is nothing to switch: each repetition is the side once.  ``thp`` adds a run on
    a ``MADV_HUGEPAGE`` mapping (no writer) to each side: faultbench sets THP to
    ``madvise``, so only that run gets huge pages.  ``own`` adds the own-buffer workload
    (each thread maps, writes and unmaps its own buffers).  ``warmup`` starts the boot
    with a one-round run that :func:`runs` sets aside: the first run of a boot is the
    slowest (page allocator and TCG caches still cold), and it would bias whichever
    side comes first.
    """
    def fb(writer: int, extra: str = "", n: int = rounds) -> str:
        return f"faultbench:threads={threads},mb={mb},rounds={n},writer={writer}{extra}"
    side = [fb(0), fb(1)] + ([fb(0, ",thp=1")] if thp else []) + \
        ([fb(0, f",own=1,buf={OWN_BUF_KB}")] if own else [])
    warm = [fb(0, ",warmup=1", 1)] if warmup else []
    if not spf:
        return warm + side * repeat
    # The warm-up runs with the sysctl on, right after the first sysctl=1.
    body = ["sysctl=1", *side, "sysctl=0", *side] * repeat
    return ["sysctl=1", *warm, *body[1:], "sysctl=1"]


def step_count(repeat: int, spf: bool, thp: bool = False, own: bool = False,
               warmup: bool = False) -> int:
    """How many steps :func:`guest_args` gives, without building a list ``repeat`` long."""
    side = 2 + thp + own
    return (2 * (side + 1) * repeat + 1 if spf else side * repeat) + warmup


def spf_counters(vmstat: dict) -> dict[str, int]:
    return {k: int(v) for k, v in vmstat.items() if SPF_COUNTER.match(k)}


def speculative_successes(vmstat: dict) -> int | None:
    """Faults the speculative path handled, or None when the kernel has no such counter."""
    return int(vmstat[SUCCESS_COUNTER]) if SUCCESS_COUNTER in vmstat else None


@dataclass
class Run:
    spf: str  # "on", "off", or "n/a" (kernel without the sysctl)
    writer: bool
    threads: int
    faults: int  # the faulting threads' minor faults (pages touched, in records before thp)
    writer_ops: int  # mmap + first touch + munmap cycles of the writer thread
    faults_per_sec: float
    best_round_pages_per_sec: float  # pages per second of the fastest round
    pgfault: int
    speculative: int | None
    counters: dict[str, int]
    thp: bool = False  # the mapping had MADV_HUGEPAGE (one fault per 2 MiB)
    pages_per_sec: float = 0.0  # pages made present per second: the throughput compared
    own: bool = False  # each thread mapped, wrote and unmapped its own buffers
    kernel: str = "series"  # series (the port), vanilla, spf-n, v6.12 or v6.12-novma
    repetition: int = 0  # which repetition of the sequence (ratios pair runs by it)

    @property
    def vma_locked(self) -> int | None:
        """Faults handled under a per-VMA lock, or None on a kernel that does not count them."""
        return self.counters.get(VMA_LOCK_COUNTER)

    @property
    def workload(self) -> str:
        """The kind of run: what a ratio compares like with like."""
        return "own_buffers" if self.own else "thp" if self.thp else \
            "writer" if self.writer else "no_writer"

    @property
    def share(self) -> float | None:
        """Speculative successes over every fault of the step."""
        if self.speculative is None or not self.pgfault:
            return None
        return self.speculative / self.pgfault

    @property
    def first_touch(self) -> int:
        """Faults in a VMA without an anon_vma yet (0 with the sysctl off: not counted).

        With the writer, almost all of them are its own: it reads each fresh mapping once
        before unmapping it, so ``first_touch`` is about ``writer_ops``.
        """
        return self.counters.get(FIRST_TOUCH_COUNTER, 0)

    @property
    def share_after_first_touch(self) -> float | None:
        """Speculative successes over the faults left once each VMA's first touch is set aside:
        the figure the port promises to keep at or above ``TARGET_SHARE``."""
        rest = self.pgfault - self.first_touch
        if self.speculative is None or rest <= 0:
            return None
        return self.speculative / rest


def runs(doc: dict, kernel: str = "series", first_repetition: int = 0) -> list[Run]:
    """The faultbench steps of a guest document, each tagged with the sysctl at the time.

    The k-th run of a workload and sysctl setting in the document is repetition
    ``first_repetition + k``; warm-up runs are set aside.
    """
    out = []
    spf = "n/a"
    seen: dict[tuple[str, str], int] = {}
    for step in doc.get("steps", []):
        if "sysctl" in step:
            spf = "on" if str(step["sysctl"]) == "1" else "off"
            continue
        res = step.get("result") or {}
        if step.get("program") != "faultbench" or "faults_per_sec" not in res \
                or res.get("warmup"):
            continue
        vm = step.get("vmstat", {})
        # Records made before faultbench had thp=: one fault per page, so pages = faults.
        best = res.get("best_round_pages_per_sec", res.get("best_round_faults_per_sec", 0))
        run = Run(spf=spf, writer=bool(res.get("writer")), threads=int(res.get("threads", 0)),
                  faults=int(res.get("faults", 0)),
                  writer_ops=int(res.get("writer_ops", 0)),
                  faults_per_sec=float(res["faults_per_sec"]),
                  best_round_pages_per_sec=float(best),
                  pgfault=int(vm.get("pgfault", 0)), speculative=speculative_successes(vm),
                  counters=spf_counters(vm), thp=bool(res.get("thp")),
                  pages_per_sec=float(res.get("pages_per_sec", res["faults_per_sec"])),
                  own=bool(res.get("own")), kernel=kernel)
        k = seen.get((spf, run.workload), 0)
        seen[(spf, run.workload)] = k + 1
        run.repetition = first_repetition + k
        out.append(run)
    return out


def machine() -> dict:
    """What the figures were measured on: they mean little without it."""
    info: dict = {"hostname": platform.node(), "host_kernel": platform.release(),
                  "cpus": os.cpu_count()}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        m = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
        info["cpu_model"] = m[1].strip() if m else None
        mem = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
        info["memory_gib"] = round(int(mem[1]) / 2**20, 1) if mem else None
    except OSError:
        pass
    return info


def qemu_version() -> str:
    try:
        r = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True)
        return r.stdout.splitlines()[0] if r.stdout else "?"
    except OSError:
        return "?"


def source_version(kernel_dir: Path) -> dict:
    """The repo's commit, and whether the port used is kernel/ as committed (None: elsewhere)."""
    def git(*args: str) -> str:
        try:
            r = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
        except OSError:
            return ""
        return r.stdout.strip() if r.returncode == 0 else ""
    ours = kernel_dir.resolve() == (REPO / "kernel").resolve()
    return {"commit": git("rev-parse", "HEAD") or None, "kernel_dir": str(kernel_dir),
            "kernel_dir_dirty": bool(git("status", "--porcelain", "--", "kernel")) if ours
            else None}


def record(host: dict, bench_runs: list[Run], kernel_dir: Path,
           boots: list[dict] | None = None) -> dict:
    """What ``spfteach/data/kernel-bench/`` keeps of a bench: the machine, the kernels, every
    run and ratio, and each boot's whole guest document (``boots[i]["guest"]``)."""
    return {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(),
            "source": source_version(kernel_dir),
            "qemu": {"version": qemu_version(), **{k: host[k] for k in
                     ("accel", "accel_reason", "smp", "memory") if k in host}},
            "kernel": {"profile": host.get("profile"),
                       "config_profile": "+".join(host.get("config_fragments") or []) or None,
                       "source_version": host.get("source_version"),
                       "release": host.get("release"),
                       "series": host.get("series")},
            "runs": [summary(r) for r in bench_runs], "target_met": target_met(bench_runs),
            "on_off_ratios": {"without_writer": ratios(bench_runs, False),
                              "with_writer": ratios(bench_runs, True),
                              "thp_without_writer": ratios(bench_runs, False, thp=True),
                              "own_buffers": ratios(bench_runs, False, own=True)},
            "versus_vanilla": versus_vanilla(bench_runs),
            "gains": gains(bench_runs),
            "cost_targets": cost_targets(bench_runs),
            "config_differences": (host.get("bench") or {}).get("config_differences", {}),
            "kernels": (host.get("bench") or {}).get("kernel_sources", {}),
            "boots": boots or []}


def save(data_dir: Path, rec: dict) -> Path:
    out = data_dir / "kernel-bench"
    out.mkdir(parents=True, exist_ok=True)
    name = time.strftime("%Y%m%dT%H%M%S") + f"-{platform.node() or 'host'}.json"
    path = out / name
    path.write_text(json.dumps(rec, indent=1, sort_keys=False) + "\n")
    return path


#: The workloads, in the order the table shows them.
WORKLOADS = ("no_writer", "writer", "thp", "own_buffers")
WORKLOAD_NAMES = {"no_writer": "without the mmap writer", "writer": "with the mmap writer",
                  "thp": "with THP (no writer)", "own_buffers": "own buffers (no writer)"}
#: Issue 12's targets against vanilla: (kernel, sysctl, the workloads held, the lowest median).
COST_TARGETS = (("series", "off", ("no_writer", "writer", "own_buffers"), 0.98),
                ("spf-n", "n/a", WORKLOADS, 0.99),
                ("series", "on", WORKLOADS, 1.0))


def _workload(writer: bool, thp: bool, own: bool) -> str:
    return "own_buffers" if own else "thp" if thp else "writer" if writer else "no_writer"


def _by_repetition(bench_runs: list[Run], kernel: str, spf: str, workload: str) -> dict[int, Run]:
    return {r.repetition: r for r in bench_runs
            if r.kernel == kernel and r.spf == spf and r.workload == workload}


def pair_ratios(bench_runs: list[Run], a: tuple[str, str], b: tuple[str, str],
                workload: str) -> list[float]:
    """pages/s of ``a`` over ``b`` ((kernel, sysctl) each), repetition by repetition.

    A repetition missing either side (a guest that died mid-sequence) has no ratio.
    """
    ra, rb = _by_repetition(bench_runs, *a, workload), _by_repetition(bench_runs, *b, workload)
    return [ra[i].pages_per_sec / rb[i].pages_per_sec
            for i in sorted(set(ra) & set(rb)) if rb[i].pages_per_sec]


def ratios(bench_runs: list[Run], writer: bool, thp: bool = False,
           own: bool = False) -> list[float]:
    """On/off pages-per-second ratio of each repetition of the series' kernel."""
    return pair_ratios(bench_runs, ("series", "on"), ("series", "off"),
                       _workload(writer, thp, own))


VERSUS = {"ratio_on_vs_vanilla": ("series", "on"), "ratio_off_vs_vanilla": ("series", "off"),
          "ratio_spf_n_vs_vanilla": ("spf-n", "n/a"),
          "ratio_v6_12_vs_vanilla": ("v6.12", "n/a"),
          "ratio_v6_12_novma_vs_vanilla": ("v6.12-novma", "n/a")}
VERSUS_NAMES = {"ratio_on_vs_vanilla": "series, SPF on", "ratio_off_vs_vanilla": "series, SPF off",
                "ratio_spf_n_vs_vanilla": "series, SPF=n", "ratio_v6_12_vs_vanilla": "6.12",
                "ratio_v6_12_novma_vs_vanilla": "6.12 no per-VMA"}
#: What each design gains over its own baseline: (a, b) as (kernel, sysctl), a over b.
GAINS = {"spf_on_vs_off": (("series", "on"), ("series", "off")),
         "per_vma_on_vs_off": (("v6.12", "n/a"), ("v6.12-novma", "n/a"))}
GAIN_NAMES = {"spf_on_vs_off": "SPF (6.1 + series), sysctl on / off",
              "per_vma_on_vs_off": "per-VMA locks (6.12), on / off"}


def gains(bench_runs: list[Run]) -> dict[str, dict[str, dict]]:
    """Each design over its own baseline, per workload: every repetition's ratio, their
    median and spread (the figure to read is the one with the writer)."""
    out: dict[str, dict[str, dict]] = {}
    for key, (a, b) in GAINS.items():
        for w in WORKLOADS:
            rs = pair_ratios(bench_runs, a, b, w)
            if rs:
                out.setdefault(key, {})[w] = {"median": statistics.median(rs), "runs": rs,
                                              **spread(rs)}
    return out


def versus_vanilla(bench_runs: list[Run]) -> dict[str, dict[str, dict]]:
    """Each kernel against vanilla, per workload: every repetition's ratio and their median.

    Empty when the bench ran no vanilla kernel.
    """
    out: dict[str, dict[str, dict]] = {}
    for key, side in VERSUS.items():
        for w in WORKLOADS:
            rs = pair_ratios(bench_runs, side, ("vanilla", "n/a"), w)
            if rs:
                out.setdefault(key, {})[w] = {"median": statistics.median(rs), "runs": rs,
                                              **spread(rs)}
    return out


#: The smallest difference the cost targets care about (0.98x against 1.00x).
RESOLVE = 0.02


def spread(rs: list[float]) -> dict:
    """How much repetitions disagree, and how many it would take to tell a 2 % difference.

    ``sd`` is the sample standard deviation of the ratios; with ``n`` repetitions their mean
    is known to about ``1.96 sd / sqrt(n)`` (95 %), so telling ``RESOLVE`` apart takes
    ``n >= (1.96 sd / RESOLVE)**2``.  None with fewer than two repetitions.
    """
    if len(rs) < 2:
        return {"sd": None, "repetitions_to_resolve_2pct": None}
    sd = statistics.stdev(rs)
    return {"sd": sd, "repetitions_to_resolve_2pct": max(2, math.ceil((1.96 * sd / RESOLVE) ** 2))}


def cost_targets(bench_runs: list[Run]) -> list[dict]:
    """Issue 12's targets, each with the median it is judged on (only those measured)."""
    vs = versus_vanilla(bench_runs)
    out = []
    for kernel, spf, workloads, lowest in COST_TARGETS:
        key = next(k for k, v in VERSUS.items() if v == (kernel, spf))
        for w in workloads:
            got = vs.get(key, {}).get(w)
            if got:
                out.append({"ratio": key, "workload": w, "target": lowest,
                            "median": got["median"], "met": got["median"] >= lowest})
    return out


def _gain_lines(bench_runs: list[Run]) -> list[str]:
    """What each design gains over its own baseline, with the spread of the repetitions;
    printed only when the bench ran 6.12 (the SPF on/off lines above are the same ratio)."""
    got = gains(bench_runs)
    if "per_vma_on_vs_off" not in got:
        return []
    lines = ["  what each design gains over its own baseline (pages/s, median of the "
             "repetitions; the writer takes mmap_lock for writing in a loop):"]
    for key, per in got.items():
        for w, g in per.items():
            sd = "" if g["sd"] is None else f", sd {g['sd']:.3f}"
            lines.append(f"    {GAIN_NAMES[key] + ',':38} {WORKLOAD_NAMES[w] + ':':25} "
                         f"{g['median']:.2f}x ({len(g['runs'])} runs{sd})")
    return lines


def _show(rs: list[float]) -> str:
    if not rs:
        return "n/a"
    if len(rs) == 1:
        return f"{rs[0]:.2f}x"
    return (f"{statistics.median(rs):.2f}x (median of {len(rs)}: "
            + ", ".join(f"{x:.2f}" for x in rs) + ")")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def target_met(bench_runs: list[Run]) -> bool | None:
    """Issue 3's done-means: on, >= TARGET_SHARE after first touch; off, no speculation.

    THP runs are held only to the second half: an empty PMD in a huge-page VMA is a
    fault for ``do_huge_pmd_anonymous_page()``, which the speculative handler leaves
    to the classic path (``spf_abort_pmd``), so none of their faults is speculative.
    Nor are own-buffer runs: each buffer is a new VMA whose neighbours' mmap and munmap
    may merge into it (its sequence count moves), so their share is reported, not held.

    None when there is nothing to judge: a kernel without the sysctl has no on/off runs.
    """
    if not {"on", "off"} <= {r.spf for r in bench_runs}:
        return None
    return not target_problems(bench_runs)


def target_problems(bench_runs: list[Run]) -> list[str]:
    """One line per run that misses the target, for the verdict (empty when met or n/a)."""
    out = []
    for r in bench_runs:
        after = r.share_after_first_touch
        if r.spf == "on" and r.workload in SHARE_WORKLOADS and (after or 0) < TARGET_SHARE:
            out.append(f"SPF on, writer {'yes' if r.writer else 'no'}: {_pct(after)} of the "
                       f"faults after first touch were speculative (target "
                       f">= {100 * TARGET_SHARE:.0f}%)")
        if r.spf == "off" and r.speculative:
            out.append(f"SPF off, writer {'yes' if r.writer else 'no'}"
                       f"{', THP' if r.thp else ''}: {r.speculative} faults "
                       "were speculative with the sysctl at 0 (expected none)")
    return out


def summary(r: Run) -> dict:
    """A run's figures as the JSON output shows them, the derived shares included."""
    return dict(asdict(r), share=r.share, first_touch=r.first_touch,
                share_after_first_touch=r.share_after_first_touch)


def table(bench_runs: list[Run], host: dict, published: Path | Traversable = PUBLISHED) -> str:
    """Our runs, their on/off ratios, and the published v9 ebizzy table beside them."""
    lines = [f"ours: faultbench, QEMU {host.get('accel', '?')}, {host.get('smp', '?')} vCPUs, "
             f"{host.get('profile', '?')} kernel {host.get('release', '')}".rstrip(),
             f"  {'kernel':11} {'rep':>3} {'SPF':4} {'workload':11} {'pages/s':>10} "
             f"{'best round':>11} {'pgfault':>9} {'1st touch':>9} {'speculative':>11} "
             f"{'share':>6} {'after 1st touch':>15}"
             + (f" {'vma-locked':>10}" if any(r.vma_locked is not None for r in bench_runs)
                else "")]
    for r in bench_runs:
        spec = "-" if r.speculative is None else str(r.speculative)
        locked = "" if all(x.vma_locked is None for x in bench_runs) else \
            f" {'-' if r.vma_locked is None else str(r.vma_locked):>10}"
        lines.append(f"  {r.kernel:11} {r.repetition + 1:3d} {r.spf:4} {r.workload:11} "
                     f"{r.pages_per_sec:10.0f} {r.best_round_pages_per_sec:11.0f} "
                     f"{r.pgfault:9d} {r.first_touch:9d} {spec:>11} {_pct(r.share):>6} "
                     f"{_pct(r.share_after_first_touch):>15}{locked}")
    for w in WORKLOADS:
        rs = pair_ratios(bench_runs, ("series", "on"), ("series", "off"), w)
        if rs or w in SHARE_WORKLOADS:
            lines.append(f"  SPF on/off {WORKLOAD_NAMES[w] + ':':25} {_show(rs)}")
    if any(r.thp for r in bench_runs):
        lines.append("  THP: one fault per 2 MiB (pages/s counts 4 KiB pages); an empty PMD in a "
                     "huge-page VMA is left to the classic path (spf_abort_pmd)")
    if any(r.own for r in bench_runs):
        lines.append(f"  own buffers: each thread maps, writes and unmaps {OWN_BUF_KB} KiB buffers "
                     "of its own (each one a new VMA, freed at munmap)")
    vs = versus_vanilla(bench_runs)
    if vs:
        lines.append("  against vanilla linux-source-6.1 (same config without the series), "
                     "pages/s ratio per repetition:")
        for key, label in VERSUS_NAMES.items():
            for w, got in vs.get(key, {}).items():
                lines.append(f"    {label + ',':17} {WORKLOAD_NAMES[w] + ':':25} "
                             f"{_show(got['runs'])}")
                if got["sd"] is not None:
                    lines.append(f"      {'':42} sd {got['sd']:.3f}: about "
                                 f"{got['repetitions_to_resolve_2pct']} repetitions to tell "
                                 "2 % apart")
        for t in cost_targets(bench_runs):
            lines.append(f"  cost target {t['ratio']} {t['workload']} >= {t['target']:.2f}x: "
                         f"{t['median']:.2f}x, {'met' if t['met'] else 'NOT met'}")
    lines += _gain_lines(bench_runs)
    lines.append(f"  1st touch: faults in a VMA with no anon_vma yet ({FIRST_TOUCH_COUNTER}; "
                 "with the writer, mostly its own read of each fresh mapping)")
    met = target_met(bench_runs)
    if met is not None:
        lines.append(f"  target (>= {100 * TARGET_SHARE:.0f}% speculative after first touch with "
                     f"SPF on, none with it off): {'met' if met else 'NOT met'}")
    try:
        pub = json.loads(published.read_text())
    except (OSError, ValueError):
        return "\n".join(lines)
    lines += ["", f"published v9 ({pub['benchmark']}; {pub['source']}, Message-Id "
                  f"{pub['message_id']}):",
              f"  {'machine':15} {'base':>9} {'SPF':>9} {'change':>10} {'faults':>7} "
              f"{'spf':>7} {'share':>6} {'pte_lock':>8} {'vma_chg':>7} {'notsup':>6}"]
    for row in pub["rows"]:
        share = f"{100 * row['spf_faults'] / row['faults']:.1f}%"
        lines.append(f"  {row['machine']:15} {row['base']:9.0f} {row['spf']:9.0f} "
                     f"{row['change']:>10} {row['faults']:7d} {row['spf_faults']:7d} {share:>6} "
                     f"{row['pte_lock']:8d} {row['vma_changed']:7d} {row['vma_notsup']:6d}")
    lines.append("  (ebizzy records/s on big machines vs our faults/s on emulated vCPUs: "
                 "compare the ratios and shares)")
    return "\n".join(lines)
