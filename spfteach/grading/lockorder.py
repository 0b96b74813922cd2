"""The lock-order exercise: pte_map_lock()'s speculative checks, in a student's order.

The C re-validates, IRQs off, in six steps (model/memory.py ``_lock_checks``):
check the VMA, read the pmd, compare it with the walk's, look the PTE lock up,
trylock it, check the VMA again.  The student orders the six; the grader runs
*that order* in the model (through the ``"pte_map_lock checks"`` hook of
:class:`~spfteach.model.machine.Machine`) and explores it where each step earns
its place, so a wrong order gets its own counterexample.  The steps are the
model's own, with the C lines and footprints ``_lock_checks`` has; only the
order is the student's.  An order that uses a value before the step that makes
it (``pmd_same`` before ``read_pmd``, ``trylock`` before ``lockptr``) cannot be
written in C and is refused as such.

Several orders are safe (the two VMA checks are the same test, and the lock
may be looked up at more than one place): :data:`RULES` say what every safe
order keeps, and a test holds them to the model, order by order.
"""

from __future__ import annotations

from collections.abc import Callable

from ..model import pgtable
from ..model.internal import vma_has_changed
from ..model.locking import spin_trylock, spin_unlock
from ..model.memory import _s
from ..model.mm_types import VmFault
from ..model.task import Gen, Task

#: The steps, by the names a student orders them with, and their C.
STEPS = {
    "check_vma": "if (vma_has_changed(vmf)) goto out;",
    "read_pmd": "pmdval = READ_ONCE(*vmf->pmd);",
    "pmd_same": "if (!pmd_same(pmdval, vmf->orig_pmd)) goto out;",
    "lockptr": "ptl = pte_lockptr(vmf->vma->vm_mm, &pmdval);",
    "trylock": "if (unlikely(!spin_trylock(ptl))) goto out;",
    "recheck_vma": "if (vma_has_changed(vmf)) { pte_unmap_unlock(pte, ptl); goto out; }",
}
VMA_CHECKS = ("check_vma", "recheck_vma")
#: What a step needs made first (C cannot use a value before it has it).
NEEDS = {"pmd_same": "read_pmd", "lockptr": "read_pmd", "trylock": "lockptr"}

#: What every safe order keeps, one point each: (the rule, whether an order keeps
#: it, the scenario where breaking it shows).
Rule = tuple[str, Callable[[list[str]], bool], str]


def _first(order: list[str], names: tuple[str, ...]) -> int:
    return min(order.index(n) for n in names)


def _last(order: list[str], names: tuple[str, ...]) -> int:
    return max(order.index(n) for n in names)


RULES: tuple[Rule, ...] = (
    ("the VMA is checked before the pmd is read",
     lambda o: _first(o, VMA_CHECKS) < o.index("read_pmd"), "fault-vs-munmap"),
    ("the pmd is compared before the lock is looked up",
     lambda o: o.index("pmd_same") < o.index("lockptr"), "fault-vs-thp-collapse-v9"),
    ("the VMA is checked again once the lock is held",
     lambda o: _last(o, VMA_CHECKS) > o.index("trylock"), "fault-vs-munmap"),
)


def refused(order: object) -> str | None:
    """Why ``order`` is no order of the six steps C could run, or None."""
    if not isinstance(order, list | tuple) or not all(type(x) is str for x in order) or sorted(
            order) != sorted(STEPS):  # type: ignore[arg-type]
        return f"ORDER must list each of {', '.join(STEPS)} once, not {order!r:.120}"
    o = list(order)  # type: ignore[arg-type]
    for step, first in NEEDS.items():
        if o.index(first) > o.index(step):
            return f"{step} uses what {first} makes: {first} must come first"
    return None


def in_order(order: list[str]) -> Callable[[Task, VmFault, str, dict], Gen]:
    """``_lock_checks`` with its steps in ``order``: the model's own steps, C lines
    and footprints, for the hook ``Machine.override["pte_map_lock checks"]``."""
    assert refused(order) is None, refused(order)

    def lock_checks(t: Task, vmf: VmFault, fn: str, helper: dict) -> Gen:
        k = t.machine
        vma_changed, pmd_same, trylock, vma_changed_locked = helper["checks"]
        pmdval = pte_pt = ptl = None
        got = False
        for step in order:
            if step in VMA_CHECKS:
                locked = order.index("trylock") < order.index(step)
                after = helper["trylock"] if locked else "local_irq_disable();"
                changed = yield from vma_has_changed(
                    t, vmf, _s(fn, "if (vma_has_changed(vmf)) {", after=after))
                if t.check(vma_changed_locked if locked else vma_changed, changed):
                    if got:
                        yield from spin_unlock(t, ptl, _s(fn, helper["unlock"],  # type: ignore
                                                          after=helper["trylock"]))
                    return False
            elif step == "read_pmd":
                pmd_ptp, pmd_idx = vmf.pmd  # type: ignore[misc]
                yield t.at(_s(fn, "pmdval = READ_ONCE(*vmf->pmd);"))
                pmdval = k.read_entry(t, pmd_ptp, pmd_idx)
                t.did(f"reads *vmf->pmd: {pmdval} (the walk saw {vmf.orig_pmd})")
            elif step == "pmd_same":
                if t.check(pmd_same, not pgtable.pmd_same(pmdval, vmf.orig_pmd),
                           f"the walk saw {vmf.orig_pmd}"):
                    if got:
                        yield from spin_unlock(t, ptl, _s(fn, helper["unlock"],  # type: ignore
                                                          after=helper["trylock"]))
                    return False
            elif step == "lockptr":
                assert pmdval is not None
                yield t.at(_s(fn, helper["lockptr"]))
                pte_pt, ptl = k.pte_lockptr(t, pmdval, "pte_lockptr()")
                k.event(t, "pte_lockptr", pte_pt)
                t.did(f"the PTE lock of pt{pte_pt.id} is {ptl.name}")
            else:  # trylock
                got = yield from spin_trylock(t, ptl, _s(fn, helper["trylock"]))  # type: ignore
                if t.check(trylock, not got, "" if got else f"{ptl.name} is busy"):  # type: ignore
                    return False
        vmf.ptl = ptl
        vmf.pte = (pte_pt, pgtable.index("pte", vmf.address, k.la57))
        return True
    return lock_checks
