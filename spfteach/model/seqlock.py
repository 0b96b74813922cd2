"""Sequence counts: ``include/linux/seqlock.h``.

A writer makes the count odd while it changes the protected data and even
again after; a reader samples the count, reads, and retries (or here: gives
up) when the count moved.  The speculative fault uses ``raw_read_seqcount()``,
which does *not* wait for an even value — so the fault path must test the low
bit itself, or it could validate against a snapshot taken mid-write.
"""

from __future__ import annotations

from dataclasses import dataclass

from .footprint import Obj
from .record import recorded
from .state import OBJ as _OBJ
from .state import ident, not_state, state
from .task import Gen, Src, Task


@recorded(lambda s: s.obj)
@dataclass
class SeqCount:
    """``seqcount_t``: one counter, odd while a writer is inside."""

    name: str = ident()
    sequence: int = state(default=0)
    #: the footprint object of the count (a VMA's ``vm_sequence``); None: a count
    #: outside the kernel's objects, whose steps may conflict with anything (:mod:`.record`)
    obj: Obj | None = not_state(_OBJ, default=None, compare=False)


def raw_read_seqcount(t: Task, s: SeqCount, src: Src) -> Gen:
    yield t.at(src)
    seq = s.sequence
    t.did(f"reads {s.name}: {seq} ({'odd: a writer is inside' if seq & 1 else 'even'})")
    return seq


def read_seqcount_retry(t: Task, s: SeqCount, start: int, src: Src) -> Gen:
    """True when the count moved since ``start``: what was read may be stale."""
    yield t.at(src)
    now = s.sequence
    t.did(f"re-reads {s.name}: {now} (" + ("unchanged" if now == start
                                         else f"was {start}: a writer came by") + ")")
    return now != start


def write_seqcount_begin(t: Task, s: SeqCount, src: Src) -> Gen:
    yield t.at(src)
    s.sequence += 1
    t.did(f"{s.name} {s.sequence - 1}→{s.sequence}: writer enters")


def write_seqcount_end(t: Task, s: SeqCount, src: Src) -> Gen:
    yield t.at(src)
    s.sequence += 1
    t.did(f"{s.name} {s.sequence - 1}→{s.sequence}: writer leaves")
