"""The two designs side by side, per scenario: ``spfteach/data/designs.json``, ``spfteach compare``.

For each race of the catalogue, under the speculative page fault (6.1 with our series) and
under per-VMA locks (6.12): how many states the explorer visits, the verdict, and what the
design *relies on* there — the checks (or locks) whose removal this scenario catches, i.e. the
mutants of that design it catches.  Under SPF those are validations (sequence counts, pmd
re-reads, the trylock); under per-VMA locks, locks (the reader's, the writer's) and the few
checks ``lock_vma_under_rcu()`` still makes.  :data:`COUNTERPART` says, for each SPF check,
what stands in its place under per-VMA locks, or why nothing needs to.

``python -m spfteach.explore.compare`` recomputes the file (a few minutes: every per-VMA mutant
over the catalogue; the SPF side is read from ``spfteach/data/mutants.json``, which ``make bench``
regenerates); ``spfteach compare`` prints it.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from .. import resources
from ..model.pervma.checks import MUTANTS as PER_VMA_MUTANTS
from ..scenarios import SCENARIOS
from .search import explore

DESIGNS, MUTANTS = "designs.json", "mutants.json"  # in the package's data (spfteach.resources)

_SEQ = ("vma_lock_seq", "the VMA is read-locked before the fault reads it, and a writer "
        "write-locks it before changing it: nothing to validate afterwards, the "
        "comparison of vm_lock_seq with mm_lock_seq is made once, before")
_WALK = (None, "munmap() and the anonymous THP collapse write-lock the VMA before they free "
         "or replace its page tables; but 6.12's khugepaged also retracts the page tables of "
         "file mappings under i_mmap_lock and the pmd lock alone (retract_page_tables()), and "
         "6.12's pte_offset_map_lock() re-reads the pmd under the PTE lock for that (the "
         "model's shared walk is 6.1's and does not)")
_IRQ = (None, "the fault walks with IRQs on: munmap() cannot free the page tables of a "
        "read-locked VMA (it write-locks the VMA first), so there is no IRQs-off window and "
        "no TLB-flush IPI to answer; spin_lock() is safe")

#: For each mutant of the speculative path: its counterpart under per-VMA locks (a mutant
#: of that design, or None: no check of that design stands in its place) and why.
COUNTERPART: dict[str, tuple[str | None, str]] = {
    "spf_flags": (None, "there is no separate speculative path: the ordinary fault path runs "
                  "with FAULT_FLAG_VMA_LOCK, which only its few VMA-lock-aware places read"),
    "spf_no_vma": (None, "lock_vma_under_rcu() returns NULL for a hole and the fault takes "
                   "mmap_lock (no mutant: a NULL VMA is never dereferenced)"),
    "spf_seq_odd": ("vma_lock_early_seq", "a writer inside is a write-locked VMA: "
                    "vm_lock_seq equals mm_lock_seq"),
    "spf_vm_ops": (None, "no mutant, but a counterpart: vmf_can_call_fault() sends a "
                   "->fault() without ->map_pages() back to mmap_lock (VM_FAULT_RETRY)"),
    "spf_no_anon_vma": ("anon_prepare_vma_lock", "__vmf_anon_prepare() takes mmap_lock "
                        "with a trylock, or retries"),
    "anon_no_anon_vma": ("anon_prepare_vma_lock", "as spf_no_anon_vma"),
    "spf_uffd_missing": (None, "handle_userfault() runs under the VMA lock and drops it "
                         "(release_fault_lock())"),
    "spf_bounds": ("vma_lock_range", "the bounds are checked once, after the lock"),
    "spf_arch_access": (None, "access_error() runs on the locked VMA, as on the classic path"),
    "spf_write_access": (None, "access_error() runs on the locked VMA, as on the classic path"),
    "spf_read_access": (None, "access_error() runs on the locked VMA, as on the classic path"),
    "spf_vma_policy": (None, "mbind() write-locks the VMA before it replaces the policy"),
    "spf_pgd": _WALK, "spf_p4d": _WALK, "spf_pud": _WALK, "spf_pud_trans_huge": _WALK,
    "spf_pmd_devmap": _WALK, "spf_pmd_none": _WALK, "spf_pmd_trans_huge": _WALK,
    "spf_pmd_swap": _WALK, "hpf_pmd_none": _WALK, "spinlock_pmd_same": _WALK,
    "maplock_pmd_same": _WALK,
    "spf_seq_retry": _SEQ, "hpf_vma_changed": _SEQ, "spinlock_vma_changed": _SEQ,
    "spinlock_vma_changed_locked": _SEQ, "maplock_vma_changed": _SEQ,
    "maplock_vma_changed_locked": _SEQ,
    "hpf_no_do_fault": (None, "no mutant, but a counterpart: vmf_can_call_fault(), as for "
                        "spf_vm_ops"),
    "hpf_no_swap": (None, "swap-in runs under the VMA lock in 6.12"),
    "hpf_no_wp": (None, "copy-on-write runs under the VMA lock (vmf_anon_prepare() for its "
                  "anon_vma)"),
    "spinlock_trylock": _IRQ, "maplock_trylock": _IRQ, "trylock_is_lock": _IRQ,
    "irqs_on_walk": _IRQ,
    "spf_get_vma_ref": ("vma_lock_detached", "no reference: the VMA's memory is freed after "
                        "RCU (vm_area_free()), and a VMA found before munmap() took it out is "
                        "recognised by vma->detached once locked"),
    "spf_put_vma": (None, "no reference to drop: vma_end_read() (vma_end_read_early: too "
                    "early)"),
}


def per_vma_catches() -> dict[str, list[str]]:
    """Per scenario, the per-VMA mutants it catches (explored now)."""
    out: dict[str, list[str]] = {name: [] for name in SCENARIOS}
    for m in PER_VMA_MUTANTS:
        for name, scen in SCENARIOS.items():
            if explore(scen.with_design("per-vma"), [m]).counterexamples:
                out[name].append(m)
    return out


def build() -> dict[str, Any]:
    """The comparison, computed: every scenario explored under both designs."""
    t0 = time.perf_counter()
    recorded = resources.read_json(MUTANTS)
    spf_relies = {name: sorted(m for m, row in recorded["mutants"].items()
                               if name in row.get("caught_by", ()))
                  for name in SCENARIOS}
    pv_relies = per_vma_catches()
    rows = {}
    for name, scen in SCENARIOS.items():
        row = {}
        for design, relies in (("spf", spf_relies), ("per-vma", pv_relies)):
            rep = explore(scen.with_design(design))
            row[design] = {"states": rep.states, "clean": not rep.counterexamples
                           and not rep.deadlocks, "relies_on": relies[name],
                           "outcomes": len(rep.outcomes)}
        rows[name] = row
    return {"scenarios": rows,
            "no_counterpart": {k: {"counterpart": v[0], "why": v[1]}
                               for k, v in COUNTERPART.items()},
            "seconds": round(time.perf_counter() - t0, 1)}


def table(data: dict[str, Any]) -> str:
    """The comparison as a Markdown table (what ``spfteach compare`` prints)."""
    lines = ["| scenario | SPF states | SPF relies on | per-VMA states | per-VMA relies on |",
             "|---|---:|---|---:|---|"]
    for name, row in data["scenarios"].items():
        cells = []
        for design in ("spf", "per-vma"):
            r = row[design]
            verdict = "" if r["clean"] else " (violation!)"
            cells += [f"{r['states']}{verdict}", ", ".join(r["relies_on"]) or "—"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load() -> dict[str, Any]:
    return resources.read_json(DESIGNS)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args != ["--check"]:
        print("usage: python -m spfteach.explore.compare [--check]", file=sys.stderr)
        return 2
    out = None if args == ["--check"] else \
        resources.checkout_data_or_exit("python -m spfteach.explore.compare") / DESIGNS
    data = build()
    if out is None:
        have = load()
        same = {k: have[k] for k in ("scenarios", "no_counterpart")} == \
            {k: data[k] for k in ("scenarios", "no_counterpart")}
        print(f"{DESIGNS} " + ("matches" if same else "is stale: run "
                                    "`python -m spfteach.explore.compare`"))
        return 0 if same else 1
    out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(table(data))
    print(f"wrote {out} in {data['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
