"""What a refactor of the model, the scheduler or the explorer must leave exactly as it was.

Issue 24 rebuilds the house (footprints, state, search, names) without changing what the model
*does*. This module records that, once, before the rebuild, into ``tests/fixtures/golden.json``:

- ``runs``: for every scenario, every run that takes the threads one after another (each order),
  and every counterexample of ``spfteach/data/mutants.json`` replayed with its mutant(s): per
  step the thread and the C line it stands on (file, function, absolute line in the shipped
  excerpts), then each thread's result and the invariants broken. The C links of a run and its
  outcome.
- ``matrix``: per mutant what catches it (alone and in its pair), the invariants, and its
  counterexample (scenario, invariant, schedule, length) — the explorer's verdicts.

``tests/engine/test_golden.py`` compares today's model with it: the runs on every tier, the
matrix (five minutes of search) under ``slow``. Regenerate only for a change *meant* to alter
behaviour, and say so in the commit:  ``python -m tests.golden``.

Names renamed on purpose (an invariant called after ``mmap_sem`` that 6.1 calls ``mmap_lock``)
are mapped in :data:`RENAMED`, so the file keeps recording the behaviour, not the spelling.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from spfteach import resources
from spfteach.csource import excerpts
from spfteach.scenarios import SCENARIOS, get

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "fixtures" / "golden.json"

#: old name -> today's (invariants, mutants), applied to the recorded file before comparing
RENAMED: dict[str, str] = {"spf-holds-mmap_sem": "spf-holds-mmap_lock",
                           "needs-mmap_sem": "needs-mmap_lock"}


def renamed(value: Any) -> Any:
    """``value`` with every string that is an old name replaced by today's."""
    if isinstance(value, str):
        return RENAMED.get(value, value)
    if isinstance(value, list):
        return [renamed(v) for v in value]
    if isinstance(value, dict):
        return {renamed(k): renamed(v) for k, v in value.items()}
    return value


def _steps(scenario: str, mutants: tuple[str, ...], schedule: str | list[int]) -> dict:
    ex = excerpts.load()
    run = get(scenario).new_run(list(mutants))
    run.run_spec(schedule)
    return {
        "steps": [f"{s.tid} {s.src.file}:{s.src.function}:{ex.line_of(s.src)}" for s in run.trace],
        "results": [str(run.results.get(t.tid, "running")) for t in run.tasks],
        "violations": sorted({v.invariant for v in run.violations}),
    }


def _in_order(scenario: str, order: tuple[int, ...]) -> list[int]:
    """Each thread of ``order`` runs until it finishes or blocks, then the next; then the
    lowest runnable thread, until the end."""
    run = get(scenario).new_run(record=False)
    schedule: list[int] = []
    for tid in order:
        while tid in run.runnable():
            run.step(tid)
            schedule.append(tid)
    while run.runnable():
        tid = run.runnable()[0]
        run.step(tid)
        schedule.append(tid)
    return schedule


def runs() -> dict[str, dict]:
    out: dict[str, dict] = {}
    for name in sorted(SCENARIOS):
        n = len(get(name).new_run(record=False).tasks)
        for order in itertools.permutations(range(n)):
            out[f"{name} order {','.join(map(str, order))}"] = _steps(
                name, (), _in_order(name, order))
    recorded = resources.read_json("mutants.json")
    for mutant, row in sorted(recorded["mutants"].items()):
        for kind, muts in (("counterexample", (mutant,)),
                           ("pair_counterexample", (mutant, *row.get("pair", ())))):
            ce = row.get(kind)
            if ce:
                out[f"{ce['scenario']} {'+'.join(muts)} {ce['schedule']}"] = _steps(
                    ce["scenario"], muts, ce["schedule"])
    return out


def matrix_view(m: dict) -> dict[str, dict]:
    """What of a matrix (``Matrix.as_json()``) must not change: verdicts and counterexamples,
    not messages, timings or state counts."""
    keep = ("caught_by", "pair", "pair_caught_by", "invariants")
    out = {}
    for name, row in m["mutants"].items():
        entry = {k: row[k] for k in keep if k in row}
        for kind in ("counterexample", "pair_counterexample"):
            if kind in row:
                entry[kind] = {k: v for k, v in row[kind].items() if k != "message"}
        out[name] = entry
    return out


def load() -> dict[str, Any]:
    return renamed(json.loads(GOLDEN.read_text()))


def main() -> None:
    recorded = resources.read_json("mutants.json")
    data = {"runs": runs(), "matrix": matrix_view(recorded)}
    GOLDEN.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN.relative_to(ROOT)}: {len(data['runs'])} runs, "
          f"{len(data['matrix'])} mutants")


if __name__ == "__main__":
    main()
