"""Sequence counts: ``include/linux/seqlock.h``.

A writer makes the count odd while it changes the protected data and even
again after; a reader samples the count, reads, and retries (or here: gives
up) when the count moved.  The speculative fault uses ``raw_read_seqcount()``,
which does *not* wait for an even value — so the fault path must test the low
bit itself, or it could validate against a snapshot taken mid-write.
"""

from __future__ import annotations

from dataclasses import dataclass

from .footprint import NOTHING, Obj, Use, on
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
    #: outside the kernel's objects, whose operations declare no footprint
    obj: Obj | None = not_state(_OBJ, default=None, compare=False)


# ``then``: what the caller's code does after the step, up to its next
# announcement (the same step).


def raw_read_seqcount(t: Task, s: SeqCount, src: Src, then: Use = NOTHING) -> Gen:
    r, w = on(s.obj, then, write=False)
    yield t.at(src, reads=r, writes=w)
    seq = s.sequence
    t.did(f"reads {s.name}: {seq} ({'odd: a writer is inside' if seq & 1 else 'even'})")
    return seq


def read_seqcount_retry(t: Task, s: SeqCount, start: int, src: Src,
                        then: Use = NOTHING) -> Gen:
    """True when the count moved since ``start``: what was read may be stale."""
    r, w = on(s.obj, then, write=False)
    yield t.at(src, reads=r, writes=w)
    now = s.sequence
    t.did(f"re-reads {s.name}: {now} (" + ("unchanged" if now == start
                                         else f"was {start}: a writer came by") + ")")
    return now != start


def write_seqcount_begin(t: Task, s: SeqCount, src: Src, then: Use = NOTHING) -> Gen:
    r, w = on(s.obj, then)
    yield t.at(src, reads=r, writes=w)
    s.sequence += 1
    t.did(f"{s.name} {s.sequence - 1}→{s.sequence}: writer enters")


def write_seqcount_end(t: Task, s: SeqCount, src: Src, then: Use = NOTHING) -> Gen:
    r, w = on(s.obj, then)
    yield t.at(src, reads=r, writes=w)
    s.sequence += 1
    t.did(f"{s.name} {s.sequence - 1}→{s.sequence}: writer leaves")
