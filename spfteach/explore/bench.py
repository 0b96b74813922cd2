"""The explorer's benchmark: ``make bench`` (or ``python -m spfteach.explore.bench``).

For every scenario: the state-caching explorer's executions, distinct states,
seconds and states per second, next to a naive enumeration of every schedule
run in the same process with a time budget (``--naive-seconds``).  Where the
naive run does not finish, the number of schedules it would have to run is
counted exactly on the state graph (``explore(local_first=False).schedules``;
the tests check that this count equals the naive enumeration wherever that
finishes) and its time projected from its measured rate.  Then the mutant matrix.  The
figures go to ``data/explore-bench.json`` and ``data/mutants.json`` (what
``spfteach checks`` shows); the table is printed.  Measures, does not assert:
the targets are judged by reading it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from ..scenarios import SCENARIOS
from .mutants import matrix
from .search import explore, naive

DATA = Path(__file__).resolve().parents[2] / "data"

#: Targets of the explorer (issue 4), printed beside the figures.
TARGET_SECONDS = 1.0
TARGET_STATES_PER_SECOND = 10_000
TARGET_RATIO = 10.0


def machine() -> dict[str, object]:
    return {"python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "load_average": os.getloadavg()[0],
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def bench(naive_seconds: float) -> dict[str, object]:
    rows = []
    print(f"{'scenario':<28} {'exec':>5} {'states':>7} {'s':>7} {'states/s':>9} | "
          f"{'naive exec':>11} {'s':>6} {'ratio':>8} verdicts")
    for name, scen in SCENARIOS.items():
        cpu0 = time.process_time()
        r = explore(scen)
        cpu = time.process_time() - cpu0
        n = naive(scen, max_seconds=naive_seconds)
        total = explore(scen, local_first=False).schedules
        ratio = total / max(r.executions, 1)
        rate = n.executions / n.seconds if n.seconds else 0.0
        same = r.verdict() == n.verdict() if n.complete else None
        row = {"scenario": name, "executions": r.executions, "states": r.states,
               "pruned": r.pruned, "transitions": r.transitions, "seconds": round(r.seconds, 4),
               "cpu_seconds": round(cpu, 4), "states_per_second": round(r.states_per_second),
               "violations": len(r.counterexamples),
               "naive": {"executions": n.executions, "complete": n.complete,
                         "seconds": round(n.seconds, 3), "schedules_total": total,
                         "executions_per_second": round(rate, 1),
                         "projected_seconds": round(total / rate, 1) if rate else None},
               "reduction_ratio": round(ratio, 1), "same_verdicts": same}
        rows.append(row)
        naive_s = f"{total:>11.3g}" if total > 1e9 else f"{total:>11}"
        ratio_s = f"{ratio:>8.2g}" if ratio > 1e6 else f"{ratio:>8.1f}"
        if n.complete:
            verdict = "same" if same else "DIFFERENT"
        else:
            proj = total / rate if rate else float("inf")
            verdict = f"naive ran {n.executions} in {n.seconds:.0f} s; all: ~{proj:.2g} s"
        print(f"{name:<28} {r.executions:>5} {r.states:>7} {r.seconds:>7.3f} "
              f"{r.states_per_second:>9,.0f} | {naive_s} {n.seconds:>6.1f} {ratio_s} {verdict}")
    races = [x for x in rows if x["states"] > 100]
    total_states = sum(x["states"] for x in rows)
    total_seconds = sum(x["seconds"] for x in rows)
    summary = {
        "slowest_seconds": max(x["seconds"] for x in rows),
        "under_target_seconds": all(x["seconds"] < TARGET_SECONDS for x in rows),
        "states_per_second_overall": round(total_states / total_seconds),
        "states_per_second_races_min": min(x["states_per_second"] for x in races),
        "min_ratio_where_naive_finished": min(
            (x["reduction_ratio"] for x in rows if x["naive"]["complete"] and
             x["executions"] > 1), default=None),
        "min_ratio_races": min(x["reduction_ratio"] for x in races),
    }
    print(f"\nslowest scenario {summary['slowest_seconds']:.3f} s (target < {TARGET_SECONDS} s); "
          f"{summary['states_per_second_overall']:,} states/s overall "
          f"(target {TARGET_STATES_PER_SECOND:,}); smallest reduction over the races: "
          f"{summary['min_ratio_races']:.3g}x (target {TARGET_RATIO:.0f}x)")
    return {"machine": machine(), "naive_budget_seconds": naive_seconds, "rows": rows,
            "summary": summary}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m spfteach.explore.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--naive-seconds", type=float, default=10.0,
                   help="time budget of the naive enumeration per scenario (default 10)")
    p.add_argument("--no-mutants", action="store_true", help="skip the mutant matrix")
    args = p.parse_args(argv)
    DATA.mkdir(exist_ok=True)
    result = bench(args.naive_seconds)
    (DATA / "explore-bench.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {DATA / 'explore-bench.json'}")
    if not args.no_mutants:
        t0 = time.perf_counter()
        m = matrix().as_json()
        m["machine"] = machine()
        m["seconds"] = round(time.perf_counter() - t0, 1)
        (DATA / "mutants.json").write_text(json.dumps(m, indent=1) + "\n")
        caught = sum(1 for r in m["mutants"].values() if r["caught_by"])
        print(f"mutant matrix: {caught}/{len(m['mutants'])} mutants caught alone, "
              f"{m['seconds']} s; wrote {DATA / 'mutants.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
