"""The state of a run as one hashable value: shared state plus every thread's
local state.

A thread's local state lives in its generator frames (the model functions are
generators): the position in each frame of the ``yield from`` chain and the
values of *all* its local variables.  Two runs whose keys are equal continue
exactly alike, whatever schedules led to them — which is what makes caching
states a *sound* reduction.  What a value is decides how it enters the key,
never what its variable is called: shared model objects (a VMA, a page table, a
lock, a CPU, the task) are reduced to their identity (``("vma", 0)``), since
their contents are already in the shared part; the one kernel and its one mm
are a constant.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from types import FunctionType, GeneratorType
from typing import Any

from ..model.checks import Check, Mechanism
from ..model.locking import RwLock, Spinlock
from ..model.machine import Machine
from ..model.mempolicy import Mempolicy
from ..model.mm_types import MmStruct, VmAreaStruct, VmFault
from ..model.pgtable import Entry, PageTablePage
from ..model.seqlock import SeqCount
from ..model.smp import Cpu
from ..model.task import Op, Src, Task

_ATOMS = (int, str, bool, float, type(None), Entry, Src)
_VMF_FIELDS = tuple(f.name for f in dataclasses.fields(VmFault))
#: exact types that are their own fingerprint: the common case, tested first
_ATOM_TYPES = frozenset({int, str, bool, float, type(None), Entry, Src})
_vmf_fields = operator.attrgetter(*_VMF_FIELDS)
#: a thread's own attributes that are state (declared in ``Task.FIELDS``)
_task_state = operator.attrgetter(*Task.STATE)


#: exact classes of shared model objects and their fingerprint (their identity):
#: a dictionary look-up instead of a chain of isinstance() tests, which took a
#: third of the time of fingerprinting (the chain below handles subclasses the same)
_BY_CLASS: dict[type, Callable[[Any], object]] = {
    Task: lambda v: ("task", v.tid),
    VmAreaStruct: lambda v: ("vma", v.id),
    PageTablePage: lambda v: ("pt", v.id),
    Machine: lambda v: "Machine",
    MmStruct: lambda v: "MmStruct",
    Cpu: lambda v: ("cpu", v.id),
    Mempolicy: lambda v: ("policy", v.id),
    Spinlock: lambda v: ("lock", v.name),
    RwLock: lambda v: ("lock", v.name),
    SeqCount: lambda v: ("lock", v.name),
    Check: lambda v: ("check", v.name),
    Mechanism: lambda v: ("check", v.name),
}


def _norm(v: object, memo: dict[int, object] | None = None) -> object:
    cls = type(v)
    if cls in _ATOM_TYPES:
        return v
    fast = _BY_CLASS.get(cls)
    if fast is not None:
        return fast(v)
    if isinstance(v, _ATOMS):
        return v
    if cls is VmFault:
        # several frames of one thread hold the same vm_fault: normalise it once
        if memo is not None and id(v) in memo:
            return memo[id(v)]
        out = ("vmf", tuple(x if type(x) in _ATOM_TYPES else _norm(x)
                            for x in _vmf_fields(v)))
        if memo is not None:
            memo[id(v)] = out
        return out
    if isinstance(v, VmAreaStruct):
        return ("vma", v.id)
    if isinstance(v, PageTablePage):
        return ("pt", v.id)
    if isinstance(v, tuple | list):
        return tuple(_norm(x) for x in v)
    if isinstance(v, VmFault):
        return ("vmf", tuple(_norm(getattr(v, f)) for f in _VMF_FIELDS))
    if isinstance(v, Cpu):
        return ("cpu", v.id)
    if isinstance(v, Mempolicy):
        return ("policy", v.id)
    if isinstance(v, Check | Mechanism):
        return ("check", v.name)  # a registry constant
    if isinstance(v, Task):
        return ("task", v.tid)
    if isinstance(v, Spinlock | RwLock | SeqCount):
        return ("lock", v.name)
    if isinstance(v, Machine | MmStruct):
        return type(v).__name__
    if isinstance(v, Op | GeneratorType):
        return None  # the current op / sub-generator is given by the frame chain
    if isinstance(v, FunctionType):
        return v.__qualname__  # closures: what they capture is among the locals
    if isinstance(v, dict):
        return tuple(sorted((k, _norm(x)) for k, x in v.items()))
    if isinstance(v, set | frozenset):
        return tuple(sorted(_norm(x) for x in v))  # type: ignore[type-var]
    raise TypeError(f"explorer cannot fingerprint a {type(v).__name__} in a thread's locals")


def thread_key(task: Task, gen: GeneratorType | None, result: object, finished: bool) -> tuple:
    """One thread's local state (``finished`` threads: their result)."""
    attrs = _task_state(task)
    if finished:
        return ("done", _norm(result), attrs)
    frames = []
    memo: dict[int, object] = {}
    g = gen
    while g is not None:
        frame = g.gi_frame
        if frame is None:
            break
        # Sorted by name: f_locals keeps a variable where it was first seen, so its
        # order depends on when the frame was looked at before, not on the state.
        frames.append((frame.f_code, frame.f_lasti,
                       tuple([(k, _norm(v, memo)) for k, v in sorted(frame.f_locals.items())])))
        g = g.gi_yieldfrom  # type: ignore[assignment]
        if not isinstance(g, GeneratorType):
            break
    return (tuple(frames), attrs)


class Hashed:
    """A key whose hash is computed once.  Tuples do not cache their hash, and the
    explorer hashes every state key at least twice (lookup, insert) and nests the
    thread keys, of which only one changes per step, inside it."""

    __slots__ = ("key", "_hash")

    def __init__(self, key: tuple) -> None:
        self.key = key
        self._hash = hash(key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Hashed) and self._hash == other._hash
                and self.key == other.key)

