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


def _split(args: str) -> list[str]:
    """``"int, tuple[int, str]"`` -> ``["int", "tuple[int, str]"]`` (top-level commas)."""
    out, depth, cur = [], 0, ""
    for ch in args:
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += (ch == "[") - (ch == "]")
        cur += ch
    return [*out, cur.strip()] if cur.strip() else out


#: the names in annotations whose values are hashable as they are
_HASHABLE_NAMES = {"int", "str", "bool", "float", "None", "Entry", "PtState"}


def hashable(annotation: str) -> bool:
    """Is every value of this annotation hashable and its own key (``int | None``,
    ``tuple[int | None, int]``, ``Entry``)?"""
    parts = _split(annotation.replace("|", ","))
    if len(parts) > 1:
        return all(hashable(p) for p in parts)
    a = annotation.strip()
    if a.startswith("tuple[") and a.endswith("]"):
        return all(hashable(p) for p in _split(a[6:-1]))
    return a in _HASHABLE_NAMES


def _ident(v: Any) -> Any:
    return v


def _dict_items(v: Any) -> tuple:
    return tuple(sorted(v.items()))


def freezer(annotation: object) -> Callable[[Any], object]:
    """The cheapest function that gives a field of this annotation its key: itself (atoms,
    entries), its items sorted (a dict of those), a tuple (a list of those), or
    :func:`freeze`, which looks at every value (anything else)."""
    if not isinstance(annotation, str):
        return freeze
    a = annotation.strip()
    if hashable(a):
        return _ident
    for head, fn in (("dict[", _dict_items), ("list[", tuple), ("set[", sorted)):
        if a.startswith(head) and a.endswith("]"):
            if all(hashable(p) for p in _split(a[len(head):-1])):
                return fn if head != "set[" else _sorted_tuple  # type: ignore[return-value]
    return freeze


def _sorted_tuple(v: Any) -> tuple:
    return tuple(sorted(v))


def _plan(cls: type) -> Callable[[Any], tuple]:
    getters = []
    for f in dataclasses.fields(cls):
        if kind_of(f) != "state":
            continue
        through = f.metadata.get(KEY) or freezer(f.type)
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
    if cls in _SELF:
        return v
    plan = _PLANS.get(cls)
    if plan is not None:
        return plan(v)
    cls = CONTAINERS.get(cls, cls)
    if cls is dict:
        selfs = _SELF
        return tuple(sorted([(k, x if type(x) in selfs else freeze(x)) for k, x in v.items()]))
    if cls is list or cls is tuple:
        return tuple([freeze(x) for x in v])
    if cls is set or cls is frozenset:
        return tuple(sorted(v))
    if isinstance(v, Enum) or (dataclasses.is_dataclass(v) and cls.__dataclass_params__.frozen):
        _SELF.add(cls)  # an enum, an immutable value (a page-table entry): hashable as it is
        return v
    if dataclasses.is_dataclass(v):
        return _plan(cls)(v)
    raise TypeError(f"no state key for a {cls.__name__}: declare its fields "
                    "(spfteach.model.state)")


#: the types whose values are their own key: atoms, and enums and frozen dataclasses as met
_SELF: set[type] = set(_ATOMS)


def key_of(obj: Any) -> tuple:
    """The state key of a declared object: its state fields, frozen, in order."""
    plan = _PLANS.get(type(obj)) or _plan(type(obj))
    return plan(obj)


def ids(objs: Any) -> tuple:
    """``state(key=ids)``: objects held elsewhere too, entering the key by identity."""
    return tuple([o.id for o in objs])
