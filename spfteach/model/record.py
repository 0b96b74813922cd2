"""Footprints recorded: every read and write of shared state is seen as it happens.

A step's footprint (:mod:`.footprint`) must name every shared object the step touches, or the
explorer's reduction is unsound. Rather than trust a hand-written list, the fields declared
``state()`` (:mod:`.state`) are data descriptors: reading one while a step runs records a read
of the object it belongs to, assigning one records a write, and the containers such a field
holds record their mutations as writes of the same object. The scheduler switches a
:class:`Recorder` on around each step (:meth:`spfteach.sched.Run._advance`) and off for
everything else (snapshots, state keys, the tests' inspections), so what it holds afterwards is
exactly what the step's code touched.

Which object a field belongs to is declared with the class (:func:`recorded`): a VMA's fields
are the VMA, its sequence count is its own object (the speculative fault reads it at both ends
while a writer changes the fields in between), the machine's frame table and reverse map are
``PAGES``. A field that holds another declared object (``vma.vm_sequence``, ``mm.mmap_lock``)
records nothing itself: the object it holds records its own fields. The registries of page
tables, VMAs and policies record nothing on a lookup by id (following a pointer to an object
that exists does not depend on the order of steps) but a read of ``ALLOC`` on a scan, because
which objects a scan meets depends on which allocations came first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from . import footprint as _fp

Obj = tuple[object, ...]

#: metadata key: the footprint object of a field (a function of the owner, or HOLDER/REGISTRY)
FP = "spfteach.fp"
#: the field holds another declared object, which records its own fields
HOLDER = "holder"


def registry(*kinds: str) -> tuple[str, tuple[str, ...]]:
    """``fp=registry(PT)``: the field is a registry by id of objects of those kinds: lookups
    record nothing, scans read ALLOC, an insert writes it and makes the objects of that id
    *created* by the step (their first writes are part of the allocation)."""
    return ("registry", kinds)


class Recorder:
    """What one step read and wrote (objects of :mod:`.footprint`). ``undeclared``: it touched
    an object that names no footprint object (a lock outside the kernel's), so it may conflict
    with anything."""

    __slots__ = ("reads", "writes", "undeclared", "created")

    def __init__(self) -> None:
        self.reads: set[Obj] = set()
        self.writes: set[Obj] = set()
        self.undeclared = False
        #: the objects the step allocated (a write of ALLOC)
        self.created: set[Obj] = set()

    def footprint(self) -> _fp.Footprint | None:
        if self.undeclared:
            return None
        return _fp.Footprint.of(self.reads, self.writes)


#: the recorder of the step now running (None between steps)
_ACTIVE: Recorder | None = None


def start(rec: Recorder | None) -> Recorder | None:
    """Make ``rec`` the active recorder; returns the one it replaces (give it to :func:`start`
    again when the step is over)."""
    global _ACTIVE
    prev, _ACTIVE = _ACTIVE, rec
    return prev



def _note(o: Obj | None, write: bool) -> None:
    """Record a read (or a write) of ``o`` in the active recorder, if any."""
    rec = _ACTIVE
    if rec is None:
        return
    if o is None:
        rec.undeclared = True
    else:
        (rec.writes if write else rec.reads).add(o)


def _read(o: Obj | None) -> None:
    _note(o, False)


def _write(o: Obj | None) -> None:
    _note(o, True)


class _Field:
    """A state field: the value lives in the instance's ``__dict__`` under the same name (a data
    descriptor wins over it), so code that must not record (state keys) reads it there."""

    __slots__ = ("name", "obj", "wrap")

    def __init__(self, name: str, obj: Callable[[Any], Obj | None],
                 wrap: Callable[[Any, Any], Any] | None) -> None:
        self.name, self.obj, self.wrap = name, obj, wrap

    def __get__(self, inst: Any, owner: type | None = None) -> Any:
        if inst is None:
            return self
        rec = _ACTIVE
        if rec is not None:
            o = self.obj(inst)
            if o is None:
                rec.undeclared = True
            else:
                rec.reads.add(o)
        return inst.__dict__[self.name]

    def __set__(self, inst: Any, v: Any) -> None:
        if self.wrap is not None:
            v = self.wrap(v, inst)
        d = inst.__dict__
        rec = _ACTIVE
        # the first assignment is the object's construction: it is no write of shared state
        # (an object a step creates enters a registry, which records that: ``created``)
        if rec is not None and self.name in d:
            o = self.obj(inst)
            if o is None:
                rec.undeclared = True
            else:
                rec.writes.add(o)
        d[self.name] = v


class _Holder:
    """A field holding another declared object (records nothing), or a registry (records
    nothing itself: the :class:`Registry` it holds records scans and inserts)."""

    __slots__ = ("name", "kinds")

    def __init__(self, name: str, kinds: tuple[str, ...] | None = None) -> None:
        self.name, self.kinds = name, kinds

    def __get__(self, inst: Any, owner: type | None = None) -> Any:
        return self if inst is None else inst.__dict__[self.name]

    def __set__(self, inst: Any, v: Any) -> None:
        if self.kinds is not None and type(v) is dict:
            v = Registry(v)
            v._kinds = self.kinds
        inst.__dict__[self.name] = v


# --- containers that record their mutations ----------------------------------------------


def _recording(base: type, names: tuple[str, ...],
               scan: bool = False) -> dict[str, Callable[..., Any]]:
    """Methods ``names`` of ``base`` that first record a write of the container's owner (with
    ``scan``, for a registry: a read of ``ALLOC``)."""
    def make(name: str) -> Callable[..., Any]:
        method = getattr(base, name)

        def recording(self: Any, *a: Any, **kw: Any) -> Any:
            if _ACTIVE is not None:
                if scan:
                    _read(_fp.ALLOC)
                else:
                    self._w()
            return method(self, *a, **kw)
        recording.__name__ = name
        return recording
    return {name: make(name) for name in names}


class _Recording:
    """What the recording containers share: their owner, and the write they record."""

    __slots__ = ()
    _owner: Any
    _obj: Callable[[Any], Obj | None]

    def _w(self) -> None:
        _write(self._obj(self._owner))


class RecDict(_Recording, dict):
    """A dict whose mutations are writes of its owner's object."""

    __slots__ = ("_owner", "_obj")
    locals().update(_recording(dict, ("__setitem__", "__delitem__", "pop", "setdefault",
                                      "update", "clear", "popitem")))


class RecSet(_Recording, set):
    """A set whose mutations are writes of its owner's object."""

    __slots__ = ("_owner", "_obj")
    locals().update(_recording(set, ("add", "discard", "remove", "pop", "clear", "update",
                                     "difference_update", "__ior__", "__isub__")))


class RecList(_Recording, list):
    """A list whose mutations are writes of its owner's object."""

    __slots__ = ("_owner", "_obj")
    locals().update(_recording(list, ("append", "insert", "remove", "pop", "extend", "clear",
                                      "sort", "__setitem__", "__delitem__", "__iadd__")))


class Registry(RecDict):
    """Objects by id: a lookup records nothing, a scan reads ``ALLOC``, an insert writes it."""

    __slots__ = ("_kinds",)

    def __init__(self, *a: Any) -> None:
        dict.__init__(self, *a)

    def _w(self) -> None:
        _write(_fp.ALLOC)

    def __setitem__(self, k: Any, v: Any) -> None:
        rec = _ACTIVE
        if rec is not None:
            rec.writes.add(_fp.ALLOC)
            rec.created.update((kind, k) for kind in self._kinds)
        dict.__setitem__(self, k, v)

    locals().update(_recording(dict, ("__iter__", "values", "items", "keys", "__len__"),
                               scan=True))


_WRAPS: dict[type, type] = {dict: RecDict, set: RecSet, list: RecList}
#: the recording containers, for code that asks ``type(v) is dict`` (:func:`.state.freeze`)
CONTAINERS = {RecDict: dict, Registry: dict, RecSet: set, RecList: list}


def _wrapper(obj: Callable[[Any], Obj | None]) -> Callable[[Any, Any], Any]:
    def wrap(v: Any, inst: Any) -> Any:
        cls = _WRAPS.get(type(v))
        if cls is None or type(v) is cls:
            return v
        w = cls(v)
        w._owner, w._obj = inst, obj
        return w
    return wrap


def recorded(obj: Callable[[Any], Obj | None]) -> Callable[[type], type]:
    """Class decorator (after ``@dataclass``): every ``state()`` field, and every field that
    names a footprint object in its metadata (``FP``), records its reads and writes. ``obj``
    gives the object a field belongs to unless the field says otherwise."""

    def deco(cls: type) -> type:
        from .state import kind_of
        for f in dataclasses.fields(cls):
            how = f.metadata.get(FP)
            if how is None and kind_of(f) != "state":
                continue
            if how == HOLDER:
                setattr(cls, f.name, _Holder(f.name))
                continue
            if isinstance(how, tuple) and how[0] == "registry":
                setattr(cls, f.name, _Holder(f.name, how[1]))
                continue
            of = obj if how is None else how
            container = isinstance(f.type, str) and f.type.split("[")[0] in ("dict", "set", "list")
            setattr(cls, f.name, _Field(f.name, of, _wrapper(of) if container else None))
        return cls

    return deco


# --- the object view, derived ------------------------------------------------------------

#: class -> the function that splits an instance into ``out`` (built once per class)
_VIEW: dict[type, Callable[[Any, dict, Callable[[Any], None]], None]] = {}


def _view_fn(cls: type) -> Callable[[Any, dict, Callable[[Any], None]], None]:
    """Compile, from ``cls``'s declarations, the function that adds an instance's objects:
    one line per field, no dispatch per value (``objects()`` runs once per step the memoizing
    search takes for real)."""
    from .state import KEY, freezer, kind_of
    env: dict[str, Any] = {"dataclasses": dataclasses}
    groups: dict[int, tuple[str, list[str]]] = {}  # id(object fn) -> (its name, values)
    tail: list[str] = []
    for f in dataclasses.fields(cls):
        d = cls.__dict__.get(f.name)
        if isinstance(d, _Field):
            fn = d.obj
            if id(fn) not in groups:
                env[f"OBJ{len(groups)}"] = fn
                groups[id(fn)] = (f"OBJ{len(groups)}", [])
            through = (f.metadata.get(KEY) if kind_of(f) == "state" else None) or \
                freezer(f.type)
            value = f"d[{f.name!r}]"
            if through.__name__ != "_ident":
                env[f"K_{f.name}"] = through
                value = f"K_{f.name}({value})"
            groups[id(fn)][1].append(value)
        elif isinstance(d, _Holder) and d.kinds is not None:
            tail.append(f"    for x in dict.values(d[{f.name!r}]): add(x)")
        elif isinstance(d, _Holder):
            tail.append(f"    v = d[{f.name!r}]\n"
                        f"    if type(v) is list:\n"
                        f"        for x in v:\n"
                        f"            if dataclasses.is_dataclass(x): add(x)\n"
                        f"    elif dataclasses.is_dataclass(v): add(v)")
    lines = ["def view(inst, out, add):", "    d = inst.__dict__"]
    for i, (name, values) in enumerate(groups.values()):
        lines.append(f"    o{i} = {name}(inst)")
        lines.append(f"    if o{i} is not None:")
        lines.append(f"        got = out.get(o{i})")
        lines.append(f"        if got is None: out[o{i}] = [{', '.join(values)}]")
        lines.append(f"        else: got.extend(({', '.join(values)},))")
    lines.extend(tail)
    exec("\n".join(lines), env)  # noqa: S102 - code built from the class's own declarations
    fn = env["view"]
    _VIEW[cls] = fn
    return fn


def objects(root: Any) -> dict[Obj, tuple]:
    """The shared state split into the objects footprints name, derived from the same
    declarations the recorder uses: each recording field's value goes to the object it
    records (in declaration order), each held or registered object is split the same way.
    What a step changed is the objects whose values differ before and after it."""
    out: dict[Obj, list] = {}
    views = _VIEW

    def add(inst: Any) -> None:
        fn = views.get(type(inst))
        if fn is None:
            fn = _view_fn(type(inst))
        fn(inst, out, add)

    add(root)
    return {o: tuple(vs) for o, vs in out.items()}
