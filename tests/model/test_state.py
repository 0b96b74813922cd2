"""State is declared once (spfteach/model/state.py): every field of every model class says
whether it is state, and nothing that is state escapes the state key or the footprints' view.

A field left out of the state key makes the explorer's cache unsound without a sound; these
tests are what stops the next field from being left out."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Iterator
from enum import Enum
from typing import Any

import pytest

import spfteach.model
from spfteach.model import state as S
from spfteach.model.machine import Machine
from spfteach.model.task import Task
from spfteach.scenarios import SCENARIOS, get

#: mutable dataclasses of the model that are a thread's, not the machine's: their values
#: enter the key through the thread's frames (spfteach/explore/statekey.py)
THREAD_LOCAL = {"VmFault", "Op"}


def _model_dataclasses() -> list[type]:
    out = []
    for info in pkgutil.iter_modules(spfteach.model.__path__):
        mod = importlib.import_module(f"spfteach.model.{info.name}")
        for v in vars(mod).values():
            if isinstance(v, type) and dataclasses.is_dataclass(v) \
                    and v.__module__ == mod.__name__ and not v.__dataclass_params__.frozen \
                    and v.__name__ not in THREAD_LOCAL:
                out.append(v)
    return out


DECLARED = _model_dataclasses()


def test_the_declared_classes_are_the_shared_ones() -> None:
    assert {c.__name__ for c in DECLARED} == {
        "Machine", "MmStruct", "VmAreaStruct", "PageTablePage", "Cpu", "Spinlock", "RwLock",
        "SeqCount", "Mempolicy"}


@pytest.mark.parametrize("cls", DECLARED, ids=lambda c: c.__name__)
def test_every_field_is_declared(cls: type) -> None:
    undeclared = [f.name for f in dataclasses.fields(cls) if S.kind_of(f) is None]
    assert not undeclared, (f"{cls.__name__}: declare {undeclared} with state(), ident() or "
                            "not_state(why) (spfteach/model/state.py)")
    for f in dataclasses.fields(cls):
        if S.kind_of(f) == "not state":
            assert f.metadata[S.WHY], f"{cls.__name__}.{f.name}: say why it is not state"


def test_every_task_attribute_is_declared() -> None:
    kinds = set(Task.FIELDS.values())
    assert {"state", "ident"} <= kinds
    assert Task.STATE == tuple(k for k, v in Task.FIELDS.items() if v == "state")


def _objects(m: Machine) -> Iterator[Any]:
    yield m
    yield m.mm
    yield m.mm.mmap_lock
    yield m.mm.page_table_lock
    yield from m.cpus
    yield from m.pt_pages.values()
    yield from m.ptl.values()
    yield from m.policies.values()
    for v in m.vmas.values():
        yield v
        yield v.vm_sequence


def _midway(name: str) -> Any:
    """A run of ``name`` halfway through its in-order schedule (every thread started,
    locks held, counts odd, tables linked)."""
    run = get(name).new_run(record=False)
    n = 0
    while run.runnable() and n < 40:
        run.step(run.runnable()[n % len(run.runnable())])
        n += 1
    return run


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_no_attribute_is_bolted_on(name: str) -> None:
    """What the objects of a run hold is what their classes declare: nothing set on them
    that a declaration does not name (``t.spf_result`` once was, found with hasattr)."""
    run = _midway(name)
    for obj in _objects(run.machine):
        names = {f.name for f in dataclasses.fields(obj)}
        extra = set(vars(obj)) - names
        assert not extra, f"{type(obj).__name__} of {name} has undeclared {sorted(extra)}"
    for t in run.tasks:
        extra = set(vars(t)) - set(Task.FIELDS)
        assert not extra, f"a task of {name} has undeclared {sorted(extra)}: add to Task.FIELDS"


def _holds_objects(v: Any) -> bool:
    """A container of declared objects (the CPUs, the VMAs): each of them is changed on
    its own, field by field."""
    items = list(v.values()) if isinstance(v, dict) else list(v) if isinstance(v, list) else []
    return bool(items) and dataclasses.is_dataclass(items[0]) \
        and not type(items[0]).__dataclass_params__.frozen


def _changed(v: Any) -> Any:
    """A different value of the same kind (None: nothing to try)."""
    if _holds_objects(v):
        return None
    if isinstance(v, Enum):
        members = list(type(v))
        return members[(members.index(v) + 1) % len(members)]
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return v + 1
    if v is None:
        return 7
    if isinstance(v, str):
        return v + "x"
    if isinstance(v, set):
        return v | {99}
    if isinstance(v, dict):
        return {**v, 99: next(iter(v.values()))} if v else None
    if isinstance(v, list):
        return [*v, v[0]] if v else None
    if isinstance(v, tuple):
        return None
    return None


MACHINE_ONLY_IN_KEY = {"violations"}  # a violation ends its path: the footprints never see it
#: state fields the snapshot does not show, and why: the violations are the step's own
#: record (Step.violations), the writes log is the lost-fault judge's bookkeeping
NOT_SHOWN = {"violations", "writes"}


@pytest.mark.parametrize("name", ["fault-vs-munmap", "fault-vs-mbind", "swap-vs-munmap",
                                  "fault-vs-thp-collapse", "fault-vs-anon-vma"])
def test_every_state_field_reaches_the_key_and_the_footprints(name: str) -> None:
    """Change one state field of one object at a time: the state key sees it, and so does
    the object view the footprints are checked against."""
    run = _midway(name)
    m = run.machine
    key0, objs0, snap0 = m.state_key(), m.objects(), dict(m.snapshot())
    tried = 0
    unseen: list[str] = []
    for obj in _objects(m):
        for f in dataclasses.fields(obj):
            if S.kind_of(f) != "state":
                continue
            old = getattr(obj, f.name)
            new = _changed(old)
            if new is None or f.name == "mm":
                continue
            setattr(obj, f.name, new)
            try:
                where = f"{type(obj).__name__}.{f.name} of {name}"
                assert m.state_key() != key0, f"{where}: the state key does not see it"
                if f.name not in MACHINE_ONLY_IN_KEY:
                    assert m.objects() != objs0, f"{where}: Machine.objects() does not see it"
                if dict(m.snapshot()) == snap0 and f.name not in NOT_SHOWN:
                    unseen.append(where)
            finally:
                setattr(obj, f.name, old)
            tried += 1
    assert m.state_key() == key0
    assert tried >= 30, tried
    assert not unseen, f"the snapshot (the state panel, the traces) does not show {unseen}"


def test_an_undeclared_field_is_refused() -> None:
    @dataclasses.dataclass
    class Bolted:
        declared: int = S.state(default=0)
        forgotten: int = 0

    assert S.kind_of(dataclasses.fields(Bolted)[1]) is None
    with pytest.raises(TypeError, match="declare its fields"):
        S.freeze(object())


def _fixed(m: Machine) -> dict[tuple, Any]:
    """Every field declared ``ident()`` or a constant of the run, of every object, by
    (class, object id, field)."""
    out = {}
    for obj in _objects(m):
        for f in dataclasses.fields(obj):
            if S.kind_of(f) == "ident" or f.metadata.get(S.WHY) == S.CONSTANT:
                v = getattr(obj, f.name)
                # an object (the mm's pgd) by identity: its contents are state elsewhere
                out[(type(obj).__name__, id(obj), f.name)] = \
                    v if isinstance(v, int | str | bool | frozenset | type(None)) else id(v)
    return out


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_what_is_declared_constant_stays_constant(name: str) -> None:
    """A field declared not state because it never changes (an identity, a constant of
    the run) does not change at any step of the scenario's in-order run: were one
    written, the cache would merge states that differ in it."""
    run = get(name).new_run(record=False)
    before = _fixed(run.machine)
    steps = 0
    while run.runnable():
        run.step(run.runnable()[0])
        steps += 1
        now = _fixed(run.machine)
        changed = [k for k, v in before.items() if k in now and now[k] != v]
        assert not changed, f"{name}, step {steps}: {changed} changed"
    assert steps > 0
