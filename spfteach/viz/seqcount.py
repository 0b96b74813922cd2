"""One VMA's ``vm_sequence`` over a run: the writers' odd windows, the readers'
snapshots and validations, and where a guard made the reader give up.

The speculative fault's safety argument is a picture on one axis: a snapshot
taken outside any odd window, a validation later; if a writer's window opened
in between, the value moved and the validation says so.  The data behind the
picture (:func:`seqcount_points`, :func:`odd_windows`) are plain values, so the
tests assert on them instead of on pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory, offset_copy

from ..model.snapshot import vma_key
from ..sched import Run
from . import steps, text
from .render import DPI

#: the kinds of point, in the order they happen within one step
KINDS = ("write_begin", "write_end", "snapshot", "validate", "abort", "removed")


@dataclass(frozen=True)
class SeqPoint:
    """One event on the timeline.

    ``kind``: ``write_begin``/``write_end`` (a writer made the count odd/even),
    ``snapshot`` (``raw_read_seqcount()``), ``validate`` (``read_seqcount_retry()``
    or ``vma_has_changed()``; ``detail`` is ``"unchanged"`` or ``"changed"``),
    ``abort`` (a guard of a reader of this count fired: ``detail`` is the check),
    ``removed`` (a guard the run's mutant removed would have fired: the check).
    ``value`` is the count after the step.
    """

    step: int
    kind: str
    thread: str
    value: int | None
    tid: int
    function: str = ""
    detail: str = ""


def _key(vma: int) -> str:
    return vma_key(vma, "vm_sequence")


def default_vma(run: Run) -> int:
    """The VMA whose count the run's first snapshot reads (the faulting thread's);
    without a snapshot, the lowest-numbered VMA there is."""
    for s in run.trace:
        read = steps.seq_read(s)
        if read is not None and read[0] == "snapshot":
            return read[1]
    ids = sorted(run.initial_state.vmas)
    if not ids:
        raise ValueError("this run has no VMA: no sequence count to draw")
    return ids[0]


def seq_series(run: Run, vma: int) -> list[int | None]:
    """The count before the first step, then after each step (None: no such VMA yet)."""
    key = _key(vma)
    first = run.initial_state.get(key)
    return [first if isinstance(first, int) else None] + [
        v if isinstance(v := s.state.get(key), int) else None for s in run.trace]


def odd_windows(run: Run, vma: int) -> list[tuple[int, int]]:
    """``(from, to)`` steps between which the count is odd: from the step that
    made it odd (-1: odd at the start) to the step that made it even again
    (``len(run.trace)``: still odd at the end)."""
    series = seq_series(run, vma)
    out: list[tuple[int, int]] = []
    start: int | None = None
    for i, v in enumerate(series):
        odd = v is not None and v & 1 == 1
        if odd and start is None:
            start = i - 1
        elif not odd and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, len(run.trace)))
    return out


def seqcount_points(run: Run, vma: int | None = None) -> list[SeqPoint]:
    """The events of ``vma``'s count (default: :func:`default_vma`), in step order.

    Aborts are those of threads that have read this count: their speculative
    state rested on it.  The guard need not be a sequence test (``spf_p4d``
    gives up on an empty p4d that munmap() left): what the picture shows is
    where the reader stopped trusting what it read.
    """
    v = default_vma(run) if vma is None else vma
    key = _key(v)
    readers: set[int] = set()
    out: list[SeqPoint] = []
    for s in run.trace:
        value = s.state.get(key)
        value = value if isinstance(value, int) else None
        here: list[SeqPoint] = []
        for vid, kind, new in steps.seq_writes(s):
            if vid == v:
                here.append(SeqPoint(s.index, kind, s.thread, new, s.tid, s.src.function))
        read = steps.seq_read(s)
        if read is not None and read[1] == v:
            kind, _ = read
            detail = "" if kind == "snapshot" else (
                "changed" if steps.validation_failed(s) else "unchanged")
            here.append(SeqPoint(s.index, kind, s.thread, value, s.tid, s.src.function, detail))
            readers.add(s.tid)
        if s.tid in readers:
            here.extend(SeqPoint(s.index, "abort", s.thread, value, s.tid, s.src.function, name)
                        for name, _ in steps.fired(s))
            here.extend(SeqPoint(s.index, "removed", s.thread, value, s.tid, s.src.function,
                                 name) for name in steps.removed(s))
        out.extend(sorted(here, key=lambda p: KINDS.index(p.kind)))
    return out


# --- the picture ----------------------------------------------------------------

#: marker, colour, key glyph and words by kind (the glyph and words, not the
#: colour, tell them apart)
_STYLE = {
    "snapshot": ("v", "#1f5fa8", "▼", "snapshot (raw_read_seqcount)"),
    "validate": ("D", "#2a8a3e", "◇", "validate (read_seqcount_retry, vma_has_changed)"),
    "abort": ("X", "#c0282d", "✖", "a guard fired: abort"),
    "removed": ("*", "#7b3fa0", "★", "a removed guard would have fired"),
}
_ODD = dict(facecolor="#f6c98f", edgecolor="#c77a1e", hatch="///", alpha=0.55, lw=0.6)
_ODD_TEXT = "#8a4f0c"
_FONT = 7.0
#: inches around the axes: tick labels, the title and the key above
_LEFT, _RIGHT, _BOTTOM, _TOP = 0.45, 0.2, 0.42, 0.5
#: the axes' height split: the count's values below, the rows of labels above
_DATA_FRACTION = 0.42
#: label rows: past the fourth, rows are reused (the longest runs have ~10 labels,
#: which fit in three)
_ROW0, _ROW_STEP, _MAX_ROWS = 0.50, 0.12, 4


def _labels(points: list[SeqPoint], windows: list[tuple[int, int]],
            n: int) -> list[tuple[float, float | None, str]]:
    """``(x, y of the point or None, text)``: one label per (step, thread), the
    events of one step read as one sentence; one per odd window."""
    out: list[tuple[float, float | None, str]] = []
    by: dict[tuple[int, int], list[SeqPoint]] = {}
    for p in points:
        if p.kind in ("snapshot", "validate", "abort", "removed"):
            by.setdefault((p.step, p.tid), []).append(p)
    for (step, tid), ps in by.items():
        words = []
        for p in ps:
            if p.kind == "snapshot":
                words.append(f"snapshot {p.value}")
            elif p.kind == "validate":
                words.append(f"validate: {p.detail}")
            elif p.kind == "abort":
                words.append(f"abort ({p.detail})")
            else:
                words.append(f"{p.detail} removed")
        out.append((step, ps[0].value, f"T{tid} {ps[0].thread}: " + ", ".join(words)))
    begins = {p.step: p for p in points if p.kind == "write_begin"}
    ends = {p.step: p for p in points if p.kind == "write_end"}
    for a, b in windows:
        w = begins.get(a) or ends.get(b)  # odd from the start: the thread that ends it
        who = f"T{w.tid} {w.thread}" if w else "a writer"
        since = "from the start" if a < 0 else f"from step {a}"
        until = "to the end" if b >= n else f"to step {b}"
        out.append((max(a, -1), None, f"{who} inside {since} {until}"))
    return sorted(out, key=lambda t: t[0])


def _place(labels: list[tuple[float, float | None, str]], x1: float,
           steps_per_point: float) -> list[tuple[int, str]]:
    """Each label's row and side (``left``: the text starts at its step; ``right``:
    it ends there, when starting would run past the right edge), greedily left
    to right so that labels in one row do not overlap."""
    sides, spans = [], []
    for x, _, t in labels:
        w = text.width_points(t, _FONT) * steps_per_point
        ha, start, end = ("left", x, x + w) if x + w <= x1 else ("right", x - w, x)
        sides.append(ha)
        spans.append((start, end))
    return list(zip(text.pack_rows(spans, 1.0), sides, strict=True))


def _x_ticks(n: int, axes_in: float) -> list[int]:
    every = next((k for k in (1, 2, 5, 10, 20, 50, 100) if axes_in / max(n, 1) * k >= 0.35), 200)
    return list(range(0, n, every))


def seqcount_timeline(run: Run, vma: int | None = None, *,
                      highlight: int | None = None) -> Figure:
    """``vma``'s count (default: the one the faulting thread reads) over the steps,
    odd windows shaded and hatched, each read and abort marked and labelled with
    its thread.  ``highlight``: a step to mark as the current one (a widget's).

    Drawn for speed (the widget redraws it on every step): no Tick objects, no
    legend, text as cached outlines (:mod:`.text`), fixed margins instead of a
    layout engine."""
    v = default_vma(run) if vma is None else vma
    n = len(run.trace)
    series = seq_series(run, v)
    points = seqcount_points(run, v)
    windows = odd_windows(run, v)

    width = min(max(5.5 + n * 0.06, 7.0), 12.0)
    height = 3.0
    fig = Figure(figsize=(width, height), dpi=DPI)
    axes_w, axes_h = width - _LEFT - _RIGHT, height - _BOTTOM - _TOP
    ax = fig.add_axes((_LEFT / width, _BOTTOM / height, axes_w / width, axes_h / height))
    x0, x1 = -1.0, max(n - 0.5, 0.5)
    known = [y for y in series if y is not None] or [0]
    lo, hi = min(known), max(known)
    y0 = lo - 0.5
    y1 = y0 + (hi - lo + 1) / _DATA_FRACTION
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    xt = _x_ticks(n, axes_w)
    text.add_ticks(ax, "x", xt, [str(x) for x in xt], size=_FONT)
    text.add_ticks(ax, "y", list(range(lo, hi + 1)), [str(y) for y in range(lo, hi + 1)],
                   size=_FONT)
    ax.axhline(hi + 0.5, color="#cccccc", lw=0.5)

    for a, b in windows:
        ax.axvspan(max(a, x0), min(b, x1), ymax=_DATA_FRACTION, **_ODD)
    xs = [-1.0, *range(n), x1]
    ys = [float("nan") if y is None else y for y in [*series, series[-1]]]
    ax.plot(xs, ys, drawstyle="steps-post", color="#333333", lw=1.3)
    for kind, (marker, colour, _, _) in _STYLE.items():
        ps = [p for p in points if p.kind == kind and p.value is not None]
        if ps:
            hollow = kind == "validate"
            # a decision sits just above the read it was taken on, not over its marker
            lift = 0.35 if kind in ("abort", "removed") else 0.0
            ax.plot([p.step for p in ps], [p.value + lift for p in ps], ls="none",
                    marker=marker, ms=9 if kind == "removed" else 8 if hollow else 7,
                    mfc="white" if hollow else colour, mec=colour, mew=1.4 if hollow else 0.8,
                    zorder=4 if hollow else 5)
    if highlight is not None and 0 <= highlight < n:
        ax.axvline(highlight, color="#444444", lw=0.8, ls="--", zorder=1)

    # labels in rows above the values, a dotted leader down to each point
    labels = _labels(points, windows, n)
    placed = _place(labels, x1, (x1 - x0) / (axes_w * 72))
    blend = blended_transform_factory(ax.transData, ax.transAxes)
    by_side: dict[str, tuple[list[tuple[float, float, str]], list[str]]] = {}
    leaders = []
    for (x, y, t), (row, ha) in zip(labels, placed, strict=True):
        ty = _ROW0 + (row % _MAX_ROWS) * _ROW_STEP
        items, colours = by_side.setdefault(ha, ([], []))
        items.append((x, ty, t))
        colours.append(_ODD_TEXT if y is None else "#222222")
        if y is not None:
            leaders.append([(x, (y - y0) / (y1 - y0) + 0.03), (x, ty - 0.01)])
    if leaders:
        ax.add_collection(LineCollection(leaders, colors="#888888", linewidths=0.5,
                                         linestyles=":", transform=blend), autolim=False)
    for ha, (items, colours) in by_side.items():
        text.add_texts(ax, items, transform=offset_copy(blend, fig=fig, x=-2 if ha == "right"
                                                        else 2, units="points"),
                       size=_FONT, colours=colours, ha=ha, va="bottom", backdrop="white")

    # title and key: the key's glyphs are the markers' shapes, its words say what
    pts = text.points(fig)
    top = height * 72
    text.add_texts(fig, [(_LEFT * 72, top - 14, f"vma{v}.vm_sequence over {n} steps "
                          "(odd while a writer is inside vm_write_begin/end)")],
                   transform=pts, size=_FONT + 1.5, weight="bold")
    key = [("▨", _ODD_TEXT, "odd: a writer is inside")] if windows else []
    present = {p.kind for p in points}
    key += [(g, c, words) for k, (_, c, g, words) in _STYLE.items() if k in present]
    x = _LEFT * 72
    glyphs: list[tuple[float, float, str]] = []
    key_colours = []
    words_at: list[tuple[float, float, str]] = []
    for glyph, colour, words in key:
        glyphs.append((x, top - 28, glyph))
        key_colours.append(colour)
        x += text.width_points(glyph, _FONT + 1) + 3
        words_at.append((x, top - 28, words))
        x += text.width_points(words, _FONT) + 12
    text.add_texts(fig, glyphs, transform=pts, size=_FONT + 1, colours=key_colours)
    text.add_texts(fig, words_at, transform=pts, size=_FONT)
    return fig
