"""How long a Step click takes, headless: ``make bench`` (or ``python -m spfteach.widgets.bench``).

A click runs the callback, the session's step, and the redraw of every view of
the stepper (both C panels, the thread controls, the state panel, the banner)
and of a SeqcountTimeline following it; each changed trait is serialised for
the front end (outside a kernel ipywidgets sends to a dummy comm, so the
serialisation is measured and only the socket is not).  Measured on the largest
scenario (the longest run), over at least 200 clicks, beside the engine alone
(``Run.step`` of the same schedule) in the same process, so the ratio says what
the widgets add.  Target: p95 ≤ 100 ms.  Writes ``spfteach/data/widget-latency.json``.
Measures, does not assert.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from .. import resources
from ..scenarios import SCENARIOS
from .stepper import RaceStepper
from .timeline import SeqcountTimeline

TARGET_P95_MS = 100.0


def largest_scenario() -> str:
    """The scenario whose run to the end is the longest (most clicks in a row)."""
    def length(name: str) -> int:
        return len(SCENARIOS[name].new_run().finish().schedule)
    return max(sorted(SCENARIOS), key=length)


def _percentiles(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50_ms": round(statistics.median(ms), 2), "p95_ms": round(q[94], 2),
            "max_ms": round(max(ms), 2)}


def _clicks(scenario: str, clicks: int, timeline: bool) -> list[float]:
    s = RaceStepper(scenario)
    _ = s.widget  # build the views: a click redraws them
    if timeline:
        _ = SeqcountTimeline(s).widget
    schedule = SCENARIOS[scenario].new_run().finish().schedule
    out: list[float] = []
    while len(out) < clicks:
        s.reset_button.click()
        for tid in schedule:
            t0 = time.perf_counter()
            s.step_buttons[tid].click()
            out.append((time.perf_counter() - t0) * 1000)
        if s.error.value:
            raise RuntimeError(f"the benchmark's click failed: {s.error.value}")
    return out


def _engine(scenario: str, clicks: int) -> list[float]:
    schedule = SCENARIOS[scenario].new_run().finish().schedule
    out: list[float] = []
    while len(out) < clicks:
        run = SCENARIOS[scenario].new_run()
        for tid in schedule:
            t0 = time.perf_counter()
            run.step(tid)
            out.append((time.perf_counter() - t0) * 1000)
    return out


def measure(clicks: int = 200, scenario: str | None = None) -> dict[str, object]:
    name = scenario or largest_scenario()
    full = _clicks(name, clicks, timeline=True)
    alone = _clicks(name, clicks, timeline=False)
    engine = _engine(name, clicks)
    res: dict[str, object] = {"scenario": name, "clicks": len(full), **_percentiles(full)}
    res["stepper_without_timeline"] = _percentiles(alone)
    res["engine_step_only"] = _percentiles(engine)
    res["target_p95_ms"] = TARGET_P95_MS
    res["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                      "load_average": round(os.getloadavg()[0], 2),
                      "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spfteach.widgets.bench",
                                 description="Step-click latency of the RaceStepper, headless.")
    ap.add_argument("--clicks", type=int, default=200, help="at least this many (default 200)")
    ap.add_argument("--out", type=Path,
                    help="where the figures go (default: the checkout's "
                         "spfteach/data/widget-latency.json)")
    args = ap.parse_args(argv)
    if args.out is None:
        args.out = resources.checkout_data_or_exit(ap.prog) / "widget-latency.json"
    if args.clicks < 20:
        ap.error("--clicks must be at least 20 (a p95 needs them)")
    res = measure(args.clicks)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    eng = res["engine_step_only"]
    alone = res["stepper_without_timeline"]
    print(f"widget latency, {res['scenario']}, {res['clicks']} Step clicks (headless):")
    print(f"  {'':<34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'p95 ratio':>10}")
    for label, r in (("engine: Run.step only", eng), ("stepper (C panels, state, banner)", alone),
                     ("stepper + SeqcountTimeline", res)):
        ratio = r["p95_ms"] / eng["p95_ms"] if eng["p95_ms"] else float("nan")  # type: ignore
        print(f"  {label:<34} {r['p50_ms']:>8} {r['p95_ms']:>8} {r['max_ms']:>8} {ratio:>9.1f}x")
    verdict = "meets" if res["p95_ms"] <= TARGET_P95_MS else "MISSES"  # type: ignore[operator]
    print(f"  target p95 <= {TARGET_P95_MS:.0f} ms: {verdict} (written to {args.out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
