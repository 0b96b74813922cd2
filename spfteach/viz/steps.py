"""What a recorded step says about guards and sequence counts, read off its record.

A :class:`~spfteach.sched.Step` keeps the C statement it executed (``src``), the
words of what it did (``text``), the guards evaluated on its way as data (``guards``:
:class:`~spfteach.model.task.Guard`) and what it changed (``changes``). The pictures
need three facts from them: which guards fired (the path gives up), which guards a
mutant removed where they would have fired (both from ``guards``), and which VMA's
``vm_sequence`` a read concerned (from the words :mod:`~spfteach.model.seqlock` writes;
``tests/viz/test_viz.py`` holds them to a known trace, so a change of wording there
fails a test instead of silently emptying a picture).
"""

from __future__ import annotations

import re

from ..sched import Step

#: "reads vma0.vm_sequence: 0", "re-reads vma0.vm_sequence: 2",
#: "vma_has_changed() reads vma0.vm_detached and vm_sequence: ..."
_VMA_READ = re.compile(r"\bvma(\d+)\.vm_(?:sequence|detached)\b")
_SEQ_KEY = re.compile(r"^vma(\d+)\.vm_sequence$")

#: the C statements that read a count, by what the read is for
SNAPSHOT_CALLS = ("raw_read_seqcount(",)
VALIDATE_CALLS = ("read_seqcount_retry(", "vma_has_changed(")


def fired(step: Step) -> list[tuple[str, str]]:
    """The guards that fired on this step: ``(check name, VM_FAULT_... it returns)``."""
    return [(g.name, g.returns) for g in step.guards if g.stopped]


def removed(step: Step) -> list[str]:
    """Guards a mutant removed that would have fired on this step."""
    return [g.name for g in step.guards if g.removed and g.fired]


def seq_read(step: Step) -> tuple[str, int] | None:
    """``("snapshot" | "validate", vma id)`` when the step reads a ``vm_sequence``.

    Told by the C statement (the ``Src`` snippet names the call), the VMA by the
    words of the read: a snapshot ``raw_read_seqcount()`` of the fault's start
    and of ``__handle_mm_fault()``; a validation ``read_seqcount_retry()`` or
    ``vma_has_changed()``.
    """
    snippet = step.src.snippet
    kind = ("snapshot" if any(c in snippet for c in SNAPSHOT_CALLS)
            else "validate" if any(c in snippet for c in VALIDATE_CALLS) else None)
    if kind is None:
        return None
    m = _VMA_READ.search(step.text)
    return None if m is None else (kind, int(m.group(1)))


def validation_failed(step: Step) -> bool:
    """A validation read that saw the VMA changed (the words of seqlock/internal)."""
    return "unchanged" not in step.text


def seq_writes(step: Step) -> list[tuple[int, str, int]]:
    """``(vma id, "write_begin" | "write_end", new value)`` for each count this step
    moved.  A VMA born inside a write section (``copy_vma()`` of mremap) appears
    odd: that is a begin; one born even is no write at all."""
    out = []
    for key, old, new in step.changes:
        m = _SEQ_KEY.match(key)
        if m is None or not isinstance(new, int):
            continue
        if old is None and not new & 1:
            continue
        out.append((int(m.group(1)), "write_begin" if new & 1 else "write_end", new))
    return out


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis saying it was cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:max(limit - 1, 0)].rstrip() + "…"
