"""Which fields of a model object are state, declared once, where the field is.

The explorer caches states: two runs whose keys are equal must continue exactly alike. A field
that can change what happens next but is missing from the key makes the cache unsound without a
sound: the search merges states that differ and never looks at half of them. So every field of
every model class says what it is, next to its type:

- ``state()``: shared state the threads can change; it enters the state key.
- ``ident()``: names the object (an id, a lock's name) and never changes; in the key only as
  the object's identity, where another object refers to it.
- ``not_state(why)``: neither, with the reason (a constant of the run, a view of other fields,
  a handle for the footprints).

Declared once, a field serves twice: ``state()`` fields (and counters declared with ``fp=``)
also record every read and write while a step runs (:mod:`.record`), which is how the explorer
learns each step's footprint without anyone writing it down.

``key_of()`` derives an object's contribution to the state key from those declarations
(:meth:`.machine.Machine.state_key` is ``key_of(machine)``), and ``tests/model/test_state.py``
fails for a field declared neither way, and for a ``state()`` field whose change the key, or the
footprints' object view, does not see. A ``state(key=f)`` field enters the key as ``f(value)``:
a list of VMAs that the machine holds elsewhere enters as their ids, a log as its length.

``Task`` is not a dataclass (it is built by hand); it lists its fields in ``Task.FIELDS``. Its
state is per thread, in the thread's key (:mod:`spfteach.explore.statekey`), not the machine's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from enum import Enum
from typing import Any

from .record import CONTAINERS, FP

#: metadata key of a declared field: "state", "ident" or "not state"
KIND = "spfteach.state"
#: metadata key: the function a state field enters the key through
KEY = "spfteach.key"
#: metadata key: why a field is not state
WHY = "spfteach.why"

#: the reasons most fields that are not state share
CONSTANT = "a constant of the run, set by the scenario"
OBJ = "the footprint object the field's owner is (spfteach.model.footprint): a name, not a value"


def state(*, key: Callable[[Any], object] | None = None, fp: Any = None, **kw: Any) -> Any:
    """A field that is shared state (see the module docstring); ``fp``: the footprint object
    it belongs to when not its owner's (:mod:`.record`)."""
    meta: dict[str, Any] = {KIND: "state"}
    if key is not None:
        meta[KEY] = key
    if fp is not None:
        meta[FP] = fp
    return dataclasses.field(metadata=meta, **kw)


def ident(**kw: Any) -> Any:
    """A field that names the object and never changes."""
    return dataclasses.field(metadata={KIND: "ident"}, **kw)


def not_state(why: str, fp: Any = None, **kw: Any) -> Any:
    """A field that is not state, and why; ``fp``: the footprint object whose value it is part
    of all the same (an id counter: which id the next object gets), recorded (:mod:`.record`)."""
    assert why, "say why the field is not state"
    meta: dict[str, Any] = {KIND: "not state", WHY: why}
    if fp is not None:
        meta[FP] = fp
    return dataclasses.field(metadata=meta, **kw)


def kind_of(f: dataclasses.Field) -> str | None:
    """What a dataclass field is declared as (None: not declared)."""
    return f.metadata.get(KIND)


def state_fields(cls: type) -> tuple[str, ...]:
    """The names of ``cls``'s state fields, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(cls) if kind_of(f) == "state")


_ATOMS = frozenset({int, str, bool, float, type(None)})
#: class -> a function giving an instance's key: built once per class, on first use
_PLANS: dict[type, Callable[[Any], tuple]] = {}


def _plan(cls: type) -> Callable[[Any], tuple]:
    getters = []
    for f in dataclasses.fields(cls):
        if kind_of(f) != "state":
            continue
        through = f.metadata.get(KEY, freeze)
        getters.append((f.name, through))

    def key(obj: Any) -> tuple:
        d = obj.__dict__  # the values, read past the recording descriptors (spfteach.model.record)
        return tuple([through(d[name]) for name, through in getters])

    _PLANS[cls] = key
    return key


def freeze(v: Any) -> object:
    """A hashable value equal for equal states: declared objects by their state fields,
    containers by their contents (dicts and sets sorted), atoms as they are."""
    cls = type(v)
    cls = CONTAINERS.get(cls, cls)
    if cls in _ATOMS or isinstance(v, Enum):
        return v
    plan = _PLANS.get(cls)
    if plan is not None:
        return plan(v)
    if cls is dict:
        return tuple(sorted([(k, freeze(x)) for k, x in v.items()]))
    if cls is list or cls is tuple:
        return tuple([freeze(x) for x in v])
    if cls is set or cls is frozenset:
        return tuple(sorted(v))
    if dataclasses.is_dataclass(v):
        if cls.__dataclass_params__.frozen:
            return v  # an immutable value (a page-table entry): hashable as it is
        return _plan(cls)(v)
    raise TypeError(f"no state key for a {cls.__name__}: declare its fields "
                    "(spfteach.model.state)")


def key_of(obj: Any) -> tuple:
    """The state key of a declared object: its state fields, frozen, in order."""
    plan = _PLANS.get(type(obj)) or _plan(type(obj))
    return plan(obj)


def ids(objs: Any) -> tuple:
    """``state(key=ids)``: objects held elsewhere too, entering the key by identity."""
    return tuple([o.id for o in objs])
