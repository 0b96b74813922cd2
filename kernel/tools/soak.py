#!/usr/bin/env python3
"""Soak the debug kernel: repeated torture runs, several seeds, 2 and 4 vCPUs.

Each run is ``spfteach kernel test --json --seconds S --seed N --smp C`` (one
boot); the kernel is built once, by the first run.  One JSON line per run goes
to ``--out`` as it finishes (a soak stopped half-way keeps what it did), and a
Markdown table of the runs is printed at the end, for kernel/README.md.  With
``--docs DIR`` each run's whole JSON document is kept as ``DIR/seed-N-smp-C.json``.

    .venv/bin/python kernel/tools/soak.py --runs 10 --seconds 60 --out soak.jsonl
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

#: The counters a row shows (vmstat deltas of the torture step).
SHOWN = ("speculative_pgfault", "spf_abort_pmd", "spf_abort_pmd_changed", "spf_abort_uffd",
         "spf_abort_mempolicy", "spf_abort_vm_ops", "spf_abort_seq_odd", "spf_abort_vma_changed",
         "spf_abort_pte_lock", "spf_abort_fault_kind", "thp_fault_alloc", "thp_collapse_alloc",
         "pswpin")


def one(seconds: int, seed: int, smp: int, docs: Path | None = None) -> dict:
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "spfteach.kernel", "test", "--json",
                        "--seconds", str(seconds), "--seed", str(seed), "--smp", str(smp)],
                       capture_output=True, text=True)
    wall = time.monotonic() - t0
    try:
        doc = json.loads(r.stdout)
    except json.JSONDecodeError:
        return {"seed": seed, "smp": smp, "exit": r.returncode, "wall": wall,
                "error": r.stderr.strip().splitlines()[-1:] or ["no output"]}
    if docs:
        docs.mkdir(parents=True, exist_ok=True)
        (docs / f"seed-{seed}-smp-{smp}.json").write_text(r.stdout)
    return row(doc, seed, smp, r.returncode, wall)


def row(doc: dict, seed: int, smp: int, exit_status: int, wall: float) -> dict:
    """What the table shows of one run's document."""
    torture = next((s for s in doc.get("steps", []) if s.get("program") == "torture"), {})
    res, vm = torture.get("result", {}), torture.get("vmstat", {})
    host = doc.get("host", {})
    return {"seed": seed, "smp": smp, "exit": exit_status, "wall": round(wall, 1),
            "boot_seconds": host.get("boot_seconds"), "passed": host.get("passed"),
            "splats": host.get("splats"), "problems": host.get("problems"),
            "mismatches": res.get("mismatches"), "lost": res.get("lost_writes"),
            "profile": doc.get("profile"), "source_version": doc.get("source_version"),
            "counters": {k: vm.get(k) for k in SHOWN}}


def table(rows: list[dict]) -> str:
    head = ["seed", "vCPUs", "passed", "mismatches", "lost", "splats", "boot s",
            *(k.removeprefix("spf_abort_") for k in SHOWN)]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        c = r.get("counters", {})
        out.append("| " + " | ".join(str(x) for x in [
            r["seed"], r["smp"], r.get("passed"), r.get("mismatches"), r.get("lost"),
            len(r.get("splats") or []), r.get("boot_seconds"), *[c.get(k) for k in SHOWN]])
            + " |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--out", type=Path, default=Path("soak.jsonl"))
    ap.add_argument("--docs", type=Path, help="keep each run's JSON document in this directory")
    ap.add_argument("--table-from", type=Path, metavar="DIR",
                    help="run nothing: print the table of the documents a --docs DIR kept")
    a = ap.parse_args()
    if a.table_from:
        kept = []
        for path in a.table_from.glob("seed-*-smp-*.json"):
            _, seed, _, smp = path.stem.split("-")
            kept.append(row(json.loads(path.read_text()), int(seed), int(smp), 0, 0.0))
        print(table(sorted(kept, key=lambda r: r["seed"])))
        return 0
    rows = []
    for i in range(a.runs):
        done = one(a.seconds, seed=1 + i, smp=(2, 4)[i % 2], docs=a.docs)
        rows.append(done)
        with a.out.open("a") as f:
            f.write(json.dumps(done) + "\n")
        print(f"run {i + 1}/{a.runs}: seed {done['seed']} smp {done['smp']} exit "
              f"{done['exit']} passed {done.get('passed')} ({done['wall']} s)", file=sys.stderr)
    print(table(rows))
    return 0 if all(r.get("passed") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
