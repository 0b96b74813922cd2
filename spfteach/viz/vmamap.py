"""The address space as bars: each VMA its range, flags, count and reference count.

A matplotlib :class:`~matplotlib.figure.Figure`, not an SVG string: the widget
shows it next to the timeline and the lanes through the same :mod:`.render`
(PNG or inlined SVG), and the tests render every figure the same way.

The axis is not to scale, and says so: the heap is 64 KiB and the stack sits
512 GiB above it, so a linear axis would draw two dots.  Each stretch between
two VMA boundaries gets a width that grows with the log of its size, each hole
a fixed narrow width labelled with its size.  VMAs out of the tree (detached by
munmap(), or freed) get a second row below, since a new VMA may hold their
range already; they are hatched and labelled, not only coloured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory, offset_copy

from ..model.machine import Machine
from ..model.mm_types import flags_str
from . import text
from .render import DPI


@dataclass(frozen=True)
class VmaBar:
    """One VMA as the map shows it (plain values for tests)."""

    vma: int
    start: int
    end: int
    flags: str
    sequence: int
    refs: int
    #: ``tree`` (in mm's tree), ``detached`` (munmap() took it out of the tree;
    #: a speculative fault may still hold it) or ``freed`` (its last reference went)
    state: str

    @property
    def writer_inside(self) -> bool:
        return self.sequence & 1 == 1


def vma_bars(k: Machine) -> list[VmaBar]:
    """Every VMA the kernel has made, tree ones first, each group by address."""
    in_tree = {v.id for v in k.mm.mmap}
    out = []
    for v in k.vmas.values():
        state = ("freed" if v.freed else "detached" if v.vm_detached or v.id not in in_tree
                 else "tree")
        out.append(VmaBar(v.id, v.vm_start, v.vm_end, flags_str(v.vm_flags),
                          v.vm_sequence.sequence, v.vm_ref_count, state))
    return sorted(out, key=lambda b: (b.state != "tree", b.start, b.vma))


def size_str(n: int) -> str:
    """``65536`` → ``64 KiB``; a size that is no whole unit gets one decimal (the
    hole below the stack, a page short of 1 TiB, reads ``1.0 TiB``)."""
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        q = n / (1 << shift)
        if round(q, 1) >= 1:
            return f"{q:.0f} {unit}" if n % (1 << shift) == 0 else f"{q:.1f} {unit}"
    return f"{n} B"


_HOLE = 0.45
_UNIT_IN = 1.35
_FONT = 7.0
_FACE = {"tree": "#d6e6f5", "detached": "#eeeeee", "freed": "#f7dede"}
_EDGE = {"tree": "#3f6f9f", "detached": "#555555", "freed": "#9b2c2c"}
_HATCH = {"tree": None, "detached": "//", "freed": "xx"}
_STATE_WORDS = {"detached": "DETACHED: out of the tree", "freed": "FREED"}
_ODD_EDGE = "#d0700a"


def _layout(bars: list[VmaBar]) -> tuple[dict[int, float], list[tuple[float, float, int]]]:
    """Display x of every boundary, and the holes ``(x0, x1, size)`` between VMAs."""
    edges = sorted({b.start for b in bars} | {b.end for b in bars})
    xs: dict[int, float] = {}
    holes = []
    x = 0.0
    for e, nxt in zip(edges, [*edges[1:], None], strict=True):
        xs[e] = x
        if nxt is None:
            break
        if any(b.start <= e and nxt <= b.end for b in bars):
            x += 1.0 + math.log2(max(nxt - e, 4096) / 4096) / 10
        else:
            holes.append((x, x + _HOLE, nxt - e))
            x += _HOLE
    return xs, holes


def _label(b: VmaBar) -> str:
    flags = b.flags.replace("VM_", "")
    if len(flags) > 18 and "|" in flags:  # two lines, cut at the "|" nearest the middle
        cut = min((i for i, c in enumerate(flags) if c == "|"),
                  key=lambda i: abs(i - len(flags) / 2))
        flags = flags[:cut + 1] + "\n" + flags[cut + 1:]
    lines = [f"vma{b.vma} · {size_str(b.end - b.start)}", f"{b.start:#x}", f"–{b.end:#x}",
             flags, f"vm_sequence {b.sequence}" + (" (odd)" if b.writer_inside else ""),
             f"refs {b.refs}"]
    if b.writer_inside:
        lines.append("WRITER INSIDE")
    if b.state != "tree":
        lines.append(_STATE_WORDS[b.state])
    return "\n".join(lines)


def vma_map(k: Machine) -> Figure:
    """The VMAs of ``k`` along a (not to scale) address axis; see the module."""
    bars = vma_bars(k)
    if not bars:
        fig = Figure(figsize=(4, 0.6), dpi=DPI)
        text.add_texts(fig, [(0.5, 0.5, "no VMA: the address space is empty")],
                       transform=fig.transFigure, size=_FONT + 1, ha="center", va="center")
        return fig
    xs, holes = _layout(bars)
    rows = ["tree"] + (["out"] if any(b.state != "tree" for b in bars) else [])
    labels = {b.vma: _label(b) for b in bars}
    lines = max(s.count("\n") + 1 for s in labels.values())
    row_in = lines * _FONT * text.LINE_SPACING / 72 + 0.22
    span = max(xs.values())
    left, right, bottom, top = 0.85, 0.15, 0.08, 0.42
    width = min(max(left + right + span * _UNIT_IN, 5.0), 14.0)
    height = bottom + top + len(rows) * row_in
    fig = Figure(figsize=(width, height), dpi=DPI)
    ax = fig.add_axes((left / width, bottom / height, 1 - (left + right) / width,
                       len(rows) * row_in / height))
    ax.set_axis_off()
    ax.set_xlim(-0.05, span + 0.05)
    ax.set_ylim(0, len(rows))

    def row_y(b: VmaBar) -> int:
        return len(rows) - 1 if b.state == "tree" else 0

    for state in ("tree", "detached", "freed"):
        bs = [b for b in bars if b.state == state]
        if not bs:
            continue
        polys = []
        for b in bs:
            x0, x1, y = xs[b.start] + 0.03, xs[b.end] - 0.03, row_y(b)
            polys.append([(x0, y + 0.06), (x1, y + 0.06), (x1, y + 0.94), (x0, y + 0.94)])
        hatch = _HATCH[state]
        # a hatch takes the edge's colour: fill and hatch in a light one, the outline apart
        ax.add_collection(PolyCollection(polys, facecolors=_FACE[state],
                                         edgecolors="#c4c4c4" if hatch else "none",
                                         hatch=hatch, linewidths=0, zorder=1))
        ax.add_collection(PolyCollection(
            polys, facecolors="none", linestyles="--" if state == "freed" else "-",
            edgecolors=[_ODD_EDGE if b.writer_inside else _EDGE[state] for b in bs],
            linewidths=[2.6 if b.writer_inside else 1.0 for b in bs], zorder=2))
    text.add_texts(ax, [((xs[b.start] + xs[b.end]) / 2, row_y(b) + 0.5, labels[b.vma])
                        for b in bars], transform=ax.transData, size=_FONT, ha="center",
                   va="center", zorder=4)
    for x0, x1, size in holes:
        for r in range(len(rows)):
            ax.plot([x0 + 0.05, x1 - 0.05], [r + 0.5, r + 0.5], color="#aaaaaa", lw=0.8,
                    ls=(0, (2, 2)))
        text.add_texts(ax, [((x0 + x1) / 2, len(rows) - 0.5 + 0.12, f"hole\n{size_str(size)}")],
                       transform=ax.transData, size=_FONT - 1, colours="#666666",
                       ha="center", va="bottom")
    names = {"tree": "in the tree\n(mm_mt)", "out": "out of the\ntree"}
    text.add_texts(ax, [(0.0, len(rows) - 1 - i + 0.5, names[r]) for i, r in enumerate(rows)],
                   transform=offset_copy(blended_transform_factory(ax.transAxes, ax.transData),
                                         fig=fig, x=-6, units="points"),
                   size=_FONT, ha="right", va="center")
    ntree = sum(b.state == "tree" for b in bars)
    out = len(bars) - ntree
    pts = text.points(fig)
    heading = (f"address space: {ntree} VMA{'s' if ntree != 1 else ''} in the tree"
               + (f", {out} out of it" if out else ""))
    text.add_texts(fig, [(6, height * 72 - 6, heading)], transform=pts, size=_FONT + 1.5,
                   weight="bold", va="top")
    text.add_texts(fig, [(6, height * 72 - 19, "not to scale: holes shrunk, sizes on a log "
                          "scale; a thick orange outline: odd vm_sequence, a writer inside")],
                   transform=pts, size=_FONT, va="top", colours="#444444")
    return fig
