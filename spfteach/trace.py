"""Traces as text: one block per step, and a line per thread saying how it ended.

Shared by the command line and the notebooks so that both show a run the same
way.
"""

from __future__ import annotations

from .model import checks
from .model.mm_types import VM_FAULT_ERROR, VM_FAULT_RETRY, fault_str
from .sched import Run, Step


def format_step(s: Step, notes: bool = True) -> list[str]:
    """The step's line (number, thread, C function and statement), then what it
    did, the checks it evaluated and what changed in the shared state."""
    lines = [f"{s.index:>3}  T{s.tid}  {s.src.function:<25} {s.src.snippet}"]
    if s.text:
        lines.append(f"{'':>10}{s.text}")
    if notes:
        lines.extend(f"{'':>10}{n}" for n in s.notes)
    ch = s.changes_str()
    if ch:
        lines.append(f"{'':>10}changed: {ch}")
    lines.extend(f"{'':>10}!! VIOLATION {v.invariant}: {v.message}" for v in s.violations)
    return lines


def format_trace(run: Run, start: int = 0, notes: bool = True) -> str:
    return "\n".join(line for s in run.trace[start:] for line in format_step(s, notes))


def result_line(run: Run, tid: int) -> str:
    """How thread ``tid`` ended: blocked, a writer's return, or a fault's path."""
    t = run.task(tid)
    if tid not in run.results:
        op = run.next_op(tid)
        where = (f"blocked at {op.src.function}: {op.src.snippet} (waiting for {op.waits_for})"
                 if op else "not finished")
        return f"  T{tid} {t.name}: {where}"
    res = run.describe_result(run.results[tid])
    spf = t.spf_result
    if spf is None:
        return f"  T{tid} {t.name}: returns {run.results[tid]}"
    if spf & (VM_FAULT_RETRY | VM_FAULT_ERROR):
        exits = [c for c in t.checks_taken if checks.get(c).exit != "branch"]
        why = exits[0] if exits else "?"
        return (f"  T{tid} {t.name}: speculative path {fault_str(spf)} (check {why}), "
                f"classic path {res}")
    return f"  T{tid} {t.name}: handled speculatively, {res}"


def summary(run: Run) -> str:
    lines = [line for t in run.tasks for line in [result_line(run, t.tid)]]
    if run.deadlocked:
        lines.append("  DEADLOCK: threads are left and none can move")
    lines.extend(f"  VIOLATION: {v}" for v in run.machine.violations)
    return "\n".join(lines)
