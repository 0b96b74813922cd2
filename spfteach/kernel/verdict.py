"""Pass or fail for one guest run, from the console alone.

QEMU's exit status says nothing (it exits 0 after a guest panic), so a run passes
only when all of these hold: QEMU stopped by itself before the timeout, the guest
printed its JSON document, the document says ``"ok": true``, and the console holds
no kernel report (BUG, WARNING, lockdep, Oops, panic...).  Every failed condition
becomes one line in ``problems``, so a failure says all that went wrong at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .console import Splat, extract_json, scan_splats
from .errors import KernelError
from .qemu import Boot


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    doc: dict | None = None
    splats: list[Splat] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def failed_steps(doc: dict) -> list[str]:
    """Names of the guest's steps that did not succeed, for a one-line summary."""
    bad = []
    for step in doc.get("steps", []):
        if "unknown_step" in step:
            bad.append(f"{step['unknown_step']} (unknown to /init)")
        elif "sysctl" in step and not step.get("ok"):
            bad.append(f"sysctl={step['sysctl']} (no vm.speculative_page_fault?)")
        elif "program" in step:
            res = step.get("result") or {}
            if not res.get("ok") or step.get("exit_status", 0) != 0 or \
                    "killed_by_signal" in step:
                why = (f"killed by signal {step['killed_by_signal']}"
                       if "killed_by_signal" in step else
                       ", ".join(f"{k}={res[k]}" for k in
                                 # segv is no failure: the torture's accesses to a
                                 # slot mprotect()ed or moved away are caught and counted.
                                 ("mismatches", "lost_writes", "final_mismatches",
                                  "fork_failures", "op_errors", "error") if res.get(k))
                       or "not ok")
                bad.append(f"{step['program']} ({why})")
    return bad


def judge(boot: Boot, timeout: float, log: str) -> Verdict:
    v = Verdict(splats=scan_splats(boot.console))
    if boot.timed_out:
        v.problems.append(f"QEMU was stopped after {timeout:.0f} s: the guest hung or ran too "
                          f"long (last console line: {boot.last_line()})")
    try:
        v.doc = extract_json(boot.console, log)
    except KernelError as err:
        v.problems.append(str(err))
    if v.doc is not None and v.doc.get("ok") is not True:
        steps = failed_steps(v.doc)
        v.problems.append("the guest reported failure" + (f": {'; '.join(steps)}" if steps
                                                          else " (\"ok\" is not true)"))
    if v.splats:
        v.problems.append(f"{len(v.splats)} kernel report line(s) on the console, the first: "
                          f"{v.splats[0]}")
    return v
