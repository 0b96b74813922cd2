"""The explorer's benchmark: ``make bench`` (or ``python -m spfteach.explore.bench``).

For every scenario, in one process and side by side: the default search (sleep
sets over the state cache with memoized steps, :func:`.search.explore`), the
sleep-set search running every step (``search="sleep-sets"``: what the memo
adds on its own) and the baseline, the search before footprints (the state
cache alone, ``search="state-caching"``) — distinct states, steps executed
(replays included) and steps looked up, seconds, whether the verdicts agree,
and the peak memory of the default and the baseline (measured in a separate
pass under ``tracemalloc``, which slows Python down: the timed runs are not
traced).  ``--naive-seconds S`` adds a naive enumeration of every schedule with
that budget per scenario.  Then the mutant matrix.  The figures go to
``spfteach/data/explore-bench.json`` and ``spfteach/data/mutants.json`` (what ``spfteach checks``
shows); the table is printed.  Measures, does not assert: the targets (issue
13) are printed beside the figures and judged by reading them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
import tracemalloc

from .. import resources
from ..scenarios import SCENARIOS
from ..scenarios.base import Scenario
from .mutants import matrix
from .search import Report, explore, naive

#: Targets of the explorer (issue 13), printed beside the figures.
TARGET_SPEEDUP = 3.0
TARGET_TWO_THREADS_SECONDS = 0.3
TARGET_THREE_THREADS_SECONDS = 10.0


def machine() -> dict[str, object]:
    return {"python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "load_average": os.getloadavg()[0],
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def _timed(scen: Scenario, search: str) -> tuple[Report, float]:
    cpu0 = time.process_time()
    r = explore(scen, search=search)
    return r, time.process_time() - cpu0


def _peak_kib(scen: Scenario, search: str) -> int:
    """Peak Python allocation of one exploration, in KiB (traced, so not timed)."""
    tracemalloc.start()
    try:
        explore(scen, search=search)
        return tracemalloc.get_traced_memory()[1] // 1024
    finally:
        tracemalloc.stop()


def bench(naive_seconds: float = 0.0, memory: bool = True) -> dict[str, object]:
    rows = []
    print(f"{'scenario':<30} {'thr':>3} {'states':>7} {'run':>7} {'looked up':>9} {'s':>7} | "
          f"{'sleep s':>7} | {'baseline steps':>14} {'s':>7} {'speedup':>7} {'peak KiB':>9} "
          f"{'base KiB':>9} verdicts")
    for name, scen in SCENARIOS.items():
        threads = len(scen.threads)
        r, cpu = _timed(scen, "memo")
        s, _ = _timed(scen, "sleep-sets")
        b, bcpu = _timed(scen, "state-caching")
        same = r.verdict() == b.verdict() == s.verdict()
        row: dict[str, object] = {
            "scenario": name, "threads": threads, "states": r.states,
            "baseline_states": b.states, "transitions": r.transitions,
            "cached_steps": r.cached_steps, "sleep_sets_transitions": s.transitions,
            "baseline_transitions": b.transitions, "executions": r.executions,
            "seconds": round(r.seconds, 4), "sleep_sets_seconds": round(s.seconds, 4),
            "baseline_seconds": round(b.seconds, 4),
            "cpu_seconds": round(cpu, 4), "baseline_cpu_seconds": round(bcpu, 4),
            "speedup": round(b.seconds / r.seconds, 2) if r.seconds else None,
            "violations": len(r.counterexamples), "same_verdicts": same,
            "complete": r.complete and b.complete and s.complete,
        }
        if memory:
            row["peak_kib"] = _peak_kib(scen, "memo")
            row["baseline_peak_kib"] = _peak_kib(scen, "state-caching")
        if naive_seconds > 0:
            n = naive(scen, max_seconds=naive_seconds)
            row["naive"] = {"executions": n.executions, "complete": n.complete,
                            "seconds": round(n.seconds, 3),
                            "same_verdicts": n.verdict() == r.verdict() if n.complete else None}
        rows.append(row)
        print(f"{name:<30} {threads:>3} {r.states:>7} {r.transitions:>7} {r.cached_steps:>9} "
              f"{r.seconds:>7.3f} | {s.seconds:>7.3f} | "
              f"{b.transitions:>14} {b.seconds:>7.3f} {b.seconds / max(r.seconds, 1e-9):>6.1f}x "
              f"{row.get('peak_kib', '-'):>9} {row.get('baseline_peak_kib', '-'):>9} "
              f"{'same' if same else 'DIFFERENT'}")
    total = sum(float(x["seconds"]) for x in rows)  # type: ignore[arg-type]
    base_total = sum(float(x["baseline_seconds"]) for x in rows)  # type: ignore[arg-type]
    two = [x for x in rows if x["threads"] == 2]
    three = [x for x in rows if int(x["threads"]) >= 3]  # type: ignore[call-overload]
    sleep_total = sum(float(x["sleep_sets_seconds"]) for x in rows)  # type: ignore[arg-type]
    summary = {
        "total_seconds": round(total, 3),
        "sleep_sets_total_seconds": round(sleep_total, 3),
        "baseline_total_seconds": round(base_total, 3),
        "speedup_total": round(base_total / total, 2) if total else None,
        "slowest_two_thread_seconds": max((x["seconds"] for x in two), default=None),
        "slowest_three_thread_seconds": max((x["seconds"] for x in three), default=None),
        "all_verdicts_same": all(x["same_verdicts"] for x in rows),
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    if memory:
        summary["peak_kib_max"] = max(int(x["peak_kib"]) for x in rows)  # type: ignore[call-overload]
        summary["baseline_peak_kib_max"] = max(int(x["baseline_peak_kib"])  # type: ignore[call-overload]
                                               for x in rows)
    targets = {
        f"whole catalogue >= {TARGET_SPEEDUP:.0f}x faster": (summary["speedup_total"] or 0)
        >= TARGET_SPEEDUP,
        f"every two-thread scenario < {TARGET_TWO_THREADS_SECONDS} s":
            all(float(x["seconds"]) < TARGET_TWO_THREADS_SECONDS for x in two),  # type: ignore[arg-type]
        f"every three-thread scenario < {TARGET_THREE_THREADS_SECONDS:.0f} s":
            bool(three) and all(float(x["seconds"]) < TARGET_THREE_THREADS_SECONDS  # type: ignore[arg-type]
                                for x in three),
        "identical verdicts": summary["all_verdicts_same"],
    }
    print(f"\ntotal {total:.2f} s memoized ({sleep_total:.2f} s with sleep sets running every "
          f"step), {base_total:.2f} s with the state cache alone: {summary['speedup_total']}x; "
          "slowest two-thread scenario "
          f"{summary['slowest_two_thread_seconds']} s, slowest three-thread "
          f"{summary['slowest_three_thread_seconds']} s; process peak RSS "
          f"{summary['peak_rss_kib'] // 1024} MiB" +
          (f", largest traced peak {summary['peak_kib_max']} KiB (baseline "
           f"{summary['baseline_peak_kib_max']} KiB)" if memory else ""))
    for what, met in targets.items():
        print(f"  target {what}: {'met' if met else 'NOT met'}")
    return {"machine": machine(), "rows": rows, **summary,
            "targets": {k: bool(v) for k, v in targets.items()}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m spfteach.explore.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--naive-seconds", type=float, default=0.0,
                   help="also run a naive enumeration with this budget per scenario "
                        "(default 0: not run)")
    p.add_argument("--no-memory", action="store_true",
                   help="skip the traced pass that measures each search's peak memory")
    p.add_argument("--no-mutants", action="store_true", help="skip the mutant matrix")
    args = p.parse_args(argv)
    if args.naive_seconds < 0:
        p.error(f"--naive-seconds must be 0 or more, not {args.naive_seconds}")
    data = resources.checkout_data_or_exit(p.prog)
    result = bench(args.naive_seconds, memory=not args.no_memory)
    (data / "explore-bench.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {data / 'explore-bench.json'}")
    if not args.no_mutants:
        t0 = time.perf_counter()
        m = matrix().as_json()
        m["machine"] = machine()
        m["seconds"] = round(time.perf_counter() - t0, 1)
        (data / "mutants.json").write_text(json.dumps(m, indent=1) + "\n")
        caught = sum(1 for r in m["mutants"].values() if r["caught_by"])
        print(f"mutant matrix: {caught}/{len(m['mutants'])} mutants caught alone, "
              f"{m['seconds']} s; wrote {data / 'mutants.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
