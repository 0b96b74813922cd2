"""Footprints: what each step of the model reads and writes is recorded as it runs, and the
recordings are whole on every state of every scenario (the checker of
:mod:`spfteach.explore.footprints`), with and without the mutants — which switch guards off
and so take the model down other paths. And the checker does catch an access that escapes
the recorder: a write, a read, a wait's read."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from spfteach import resources
from spfteach.explore.footprints import FootprintReport, check
from spfteach.explore.mutants import names
from spfteach.model import checks
from spfteach.model.locking import Spinlock, spin_lock, spin_unlock
from spfteach.model.machine import Machine
from spfteach.model.mm_types import VM_READ
from spfteach.model.pgtable import NONE
from spfteach.model.task import Gen, Src, Task
from spfteach.model.wait import OnLock
from spfteach.scenarios import SCENARIOS
from spfteach.scenarios.base import Scenario
from spfteach.scenarios.catalogue import ADDR, base_map
from tests.small_scenarios import SMALL

ALL = {s.name: s for s in (*SCENARIOS.values(), *SMALL)}
RECORDED = resources.read_json("mutants.json")
#: The states checked of a race of three threads or more: the first ones the
#: depth-first walk reaches (all of them take a quarter of an hour each).
MAX_STATES_BIG = 1500


def _threads(scen: Scenario) -> int:
    return len(scen.new_run(record=False).tasks)


def _clean(rep: FootprintReport) -> None:
    assert rep.states > 0 and rep.steps_checked > 0
    assert not rep.undeclared, \
        f"{rep.scenario}: steps on objects outside the kernel's: {rep.undeclared}"
    assert not rep.problems, "\n".join(rep.problems[:10])


@pytest.mark.parametrize("name", list(ALL))
def test_footprints_hold(name: str) -> None:
    scen = ALL[name]
    _clean(check(scen, max_states=MAX_STATES_BIG if _threads(scen) > 2 else None))


def _mutant_sets() -> list[tuple[str, ...]]:
    """Every mutant, as spfteach/data/mutants.json has it caught: alone, or with the
    registry's pair when nothing catches it alone (a pair once)."""
    out: list[tuple[str, ...]] = []
    for m in names():
        row = RECORDED["mutants"][m]
        muts = (m,) if row["caught_by"] else (m, *checks.mutant(m).pair)
        if not any(set(muts) == set(o) for o in out):
            out.append(muts)
    return out


def _catchers(muts: tuple[str, ...]) -> list[str]:
    """The scenarios that catch ``muts``, cheapest first (by the states of the
    unmutated scenario)."""
    row = RECORDED["mutants"][muts[0]]
    scens = row["caught_by"] or row.get("pair_caught_by", [])
    assert scens, f"spfteach/data/mutants.json: nothing catches {muts}"
    return sorted(scens, key=lambda s: RECORDED["scenarios"][s]["states"])


MUTANT_SETS = _mutant_sets()
_IDS = ["+".join(m) for m in MUTANT_SETS]


@pytest.mark.parametrize("muts", MUTANT_SETS, ids=_IDS)
def test_footprints_hold_under_mutant(muts: tuple[str, ...]) -> None:
    """Each mutant on the cheapest scenario that catches it, and on the small
    scenarios: the paths a missing guard opens are declared right too."""
    _clean(check(ALL[_catchers(muts)[0]], muts))
    for scen in SMALL:
        _clean(check(scen, muts))


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("muts", MUTANT_SETS, ids=_IDS)
def test_every_mutant_footprints_hold_where_caught(muts: tuple[str, ...]) -> None:
    """Each mutant on the next MORE_CATCHERS scenarios that catch it after the
    cheapest (which test_footprints_hold_under_mutant checks); a race of three
    threads up to its first MAX_STATES_MORE states.  Every catcher, each three-thread
    race to 1,500 states, took twelve minutes: too much of CI's budget."""
    for name in _catchers(muts)[1:1 + MORE_CATCHERS]:
        scen = ALL[name]
        _clean(check(scen, muts, max_states=MAX_STATES_MORE if _threads(scen) > 2 else None))


#: Scenarios after the cheapest that the slow test runs each mutant on.
MORE_CATCHERS = 2
#: States checked of a three-thread race in the slow test.
MAX_STATES_MORE = 500


# --- the checker catches what escapes the recorder ----------------------------------------
#
# Model code cannot leave anything out of a footprint by forgetting to declare it: nothing is
# declared. What can go wrong is an access the recorder does not see — a field written or read
# through ``__dict__``, a builtin method called on a recording container. These steps do that on
# purpose ("escaped"), beside the same step written as model code is ("recorded").

S = Src("tests", "writer", "x")


def _alone(*programs: Callable[[Task], Gen], build: Callable[[Machine], None] = base_map
           ) -> Scenario:
    """The base map and one thread per program (no fault)."""
    def setup(k: Machine):
        build(k)
        tasks = [k.add_task(f"t{i}") for i in range(len(programs))]
        return [(t, p(t)) for t, p in zip(tasks, programs, strict=True)]
    return Scenario("footprint-test", "", "", (), setup)


def _pmd_clear(escaped: bool) -> Callable[[Task], Gen]:
    def prog(t: Task) -> Gen:
        pmd = t.machine.table_for(ADDR, "pmd", create=False)
        assert pmd is not None
        yield t.at(S)
        if escaped:
            dict.__delitem__(pmd.__dict__["entries"], 0)
        else:
            pmd.set(0, NONE)
        t.did("clears the pmd")
    return prog


def test_a_write_that_escapes_is_caught() -> None:
    """A step that changes a page table behind the recorder's back."""
    wrong = check(_alone(_pmd_clear(escaped=True)))
    assert any("pt" in p and "not among its recorded writes" in p for p in wrong.problems), \
        wrong.problems
    right = check(_alone(_pmd_clear(escaped=False)))
    assert right.steps_checked and not right.problems and not right.undeclared


def _flags_reader(escaped: bool) -> Callable[[Task], Gen]:
    """Reads the heap's flags into a local (the thread's state goes on with it)."""
    def prog(t: Task) -> Gen:
        vma = t.machine.mm.mmap[0]
        yield t.at(S)
        flags = vma.__dict__["vm_flags"] if escaped else vma.vm_flags
        yield t.at(S, local=True)
        t.did(f"saw {flags:#x}")
    return prog


def _flags_writer(t: Task) -> Gen:
    vma = t.machine.mm.mmap[0]
    yield t.at(S)
    vma.vm_flags = VM_READ
    t.did("drops VM_WRITE")


def test_a_read_that_escapes_is_caught() -> None:
    """A step that reads a VMA unseen while another thread writes it: recorded as touching
    nothing, the two are independent, and the two orders end in different states."""
    wrong = check(_alone(_flags_reader(escaped=True), _flags_writer))
    assert wrong.pairs_checked and any("two orders reach different states" in p
                                       for p in wrong.problems), wrong.problems
    right = check(_alone(_flags_reader(escaped=False), _flags_writer))
    assert right.steps_checked and not right.problems and not right.undeclared


class _Unseen(OnLock):
    """A wait that reads its lock behind the recorder's back."""

    def ready(self) -> bool:
        return self.lock.__dict__["owner"] is None


def _lock_waiter(t: Task) -> Gen:
    """Waits for the heap's PTE lock; the wait's read escapes, and the step touches nothing."""
    k = t.machine
    ptl = k.ptl[k.table_for(ADDR, "pte", create=False).id]  # type: ignore[union-attr]
    yield t.at(S, waits_on=_Unseen(ptl))
    t.did("saw the lock free")


def _lock_holder(t: Task) -> Gen:
    k = t.machine
    ptl = k.ptl[k.table_for(ADDR, "pte", create=False).id]  # type: ignore[union-attr]
    yield from spin_lock(t, ptl, S)
    yield from spin_unlock(t, ptl, S)


def test_an_enabling_read_that_escapes_is_caught() -> None:
    """A wait reads shared state too: the lock taken disables the waiter."""
    rep = check(_alone(_lock_waiter, _lock_holder))
    assert any("one disables the other" in p for p in rep.problems), rep.problems


def test_a_step_on_an_object_outside_the_kernels_is_counted() -> None:
    """A lock that names no footprint object: the step may conflict with anything."""
    private = Spinlock("private")

    def prog(t: Task) -> Gen:
        yield from spin_lock(t, private, S)
        yield from spin_unlock(t, private, S)
    rep = check(_alone(prog))
    assert rep.undeclared == {"tests:writer: x": 2} and not rep.problems


def _reader_under_lock(escaped: bool) -> Callable[[Task], Gen]:
    """Reads the heap's flags while holding the PTE lock."""
    def prog(t: Task) -> Gen:
        k = t.machine
        ptl = k.ptl[k.table_for(ADDR, "pte", create=False).id]  # type: ignore[union-attr]
        yield from spin_lock(t, ptl, S)
        yield t.at(S)
        vma = k.mm.mmap[0]
        flags = vma.__dict__["vm_flags"] if escaped else vma.vm_flags
        yield from spin_unlock(t, ptl, S)
        t.did(f"saw {flags:#x}")
    return prog


def _writer_outside_lock(t: Task) -> Gen:
    """Drops VM_WRITE, but only while nobody holds the PTE lock."""
    k = t.machine
    ptl = k.ptl[k.table_for(ADDR, "pte", create=False).id]  # type: ignore[union-attr]
    yield t.at(S, waits_on=OnLock(ptl))
    k.mm.mmap[0].vm_flags = VM_READ
    t.did("drops VM_WRITE")


def test_a_read_no_concurrent_write_shows_is_caught() -> None:
    """The writer cannot run while the reader reads (the lock keeps it out), so no two
    orders of co-enabled steps differ; but the reader meets the same state of its own and
    the same recorded values with the flags before and after the write, and keeps two
    different values: the memoizing search would have reused one for the other."""
    wrong = check(_alone(_reader_under_lock(escaped=True), _writer_outside_lock))
    assert not any("two orders" in p or "disables" in p for p in wrong.problems), wrong.problems
    assert any("did one thing after" in p for p in wrong.problems), wrong.problems
    right = check(_alone(_reader_under_lock(escaped=False), _writer_outside_lock))
    assert right.steps_checked and not right.problems and not right.undeclared


def test_every_state_field_records() -> None:
    """Structurally: every field declared ``state()`` of every model class is a recording
    descriptor (or holds another declared object, or a registry), so no model code can
    read or write shared state unseen by assigning or reading it as an attribute."""
    import dataclasses

    from spfteach.model import locking, machine, mempolicy, mm_types, pgtable, seqlock, smp
    from spfteach.model.record import _Field, _Holder
    from spfteach.model.state import kind_of

    classes = [machine.Machine, mm_types.VmAreaStruct, mm_types.MmStruct,
               pgtable.PageTablePage, locking.Spinlock, locking.RwLock, seqlock.SeqCount,
               smp.Cpu, mempolicy.Mempolicy]
    for cls in classes:
        for f in dataclasses.fields(cls):
            if kind_of(f) == "state":
                assert isinstance(cls.__dict__.get(f.name), _Field | _Holder), \
                    f"{cls.__name__}.{f.name} is state but does not record"
