"""Swim-lanes: one lane per thread, one box per step, in schedule order.

The interleaving is the whole story of a race, and a trace printed as text
hides it: which thread ran between two steps of the fault is a matter of
reading thread ids down a column.  Here each thread has its own lane, each step
is a box at its place in the schedule, named by the C statement it executed;
runs of steps in one function share a bar with the function's name, so a box
needs only the statement.  A step where a guard fired (the fault gives up), a
guard a mutant removed would have fired, or an invariant broke is marked twice:
a colour and hatching on the box, and a text marker above the lanes.

Long runs (60-100 steps) stay readable because the figure grows with the steps
up to a cap, the statements are written vertically (one line per step), and
past what a step's width can hold the statements are left out and the step
numbers thinned (the trace is one click away in the widget).
"""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.transforms import blended_transform_factory, offset_copy

from ..sched import Run
from . import steps, text
from .render import DPI

#: statement text in a box and in ``LaneBox.label``, at most this many characters
SNIPPET_CHARS = 30
LABEL_CHARS = 48


@dataclass(frozen=True)
class LaneBox:
    """One step of the run as the picture shows it (plain values for tests)."""

    step: int
    tid: int
    thread: str
    function: str
    snippet: str
    #: ``function: snippet``, shortened to LABEL_CHARS
    label: str
    #: guards that fired on this step (the path gives up: retry or SIGSEGV)
    aborts: tuple[str, ...] = ()
    #: guards the run's mutant removed that would have fired here
    removed: tuple[str, ...] = ()
    #: invariants this step broke
    violations: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """What the box shows, the gravest first."""
        return ("violation" if self.violations else "abort" if self.aborts
                else "removed" if self.removed else "step")


def lanes_data(run: Run) -> list[LaneBox]:
    """The boxes of :func:`swim_lanes`, one per recorded step, in schedule order."""
    out = []
    for s in run.trace:
        out.append(LaneBox(
            step=s.index, tid=s.tid, thread=s.thread, function=s.src.function,
            snippet=s.src.snippet,
            label=steps.shorten(f"{s.src.function}: {s.src.snippet}", LABEL_CHARS),
            aborts=tuple(name for name, _ in steps.fired(s)),
            removed=tuple(steps.removed(s)),
            violations=tuple(v.invariant for v in s.violations)))
    return out


def function_runs(boxes: list[LaneBox]) -> list[tuple[int, int, int, str]]:
    """``(tid, first step, last step, function)`` for each run of consecutive
    steps of one thread in one function: the bars above the boxes."""
    out: list[tuple[int, int, int, str]] = []
    for b in boxes:
        if out and out[-1][0] == b.tid and out[-1][3] == b.function and out[-1][2] == b.step - 1:
            tid, first, _, fn = out[-1]
            out[-1] = (tid, first, b.step, fn)
        else:
            out.append((b.tid, b.step, b.step, b.function))
    return out


# --- the picture ----------------------------------------------------------------

_LANE_FACE = ("#dbe9f6", "#e2f0d9", "#f1e4f3", "#fbeed3")
_LANE_EDGE = ("#4f7cab", "#56873f", "#8f5898", "#a67a22")
#: face, edge, hatch, marker words by kind: the words and the hatch say it, not the colour
_MARK = {
    "violation": ("#f4a3a5", "#8b0000", "xx", "✗ VIOLATION"),
    "abort": ("#f9c48e", "#8a4300", "//", "↺ gives up"),
    "removed": ("#d9c9ef", "#5b2d91", "..", "⊘ removed"),
}
#: the hatch's colour (matplotlib draws a hatch in the edge colour): a mid tone,
#: so the statement written over it stays readable
_HATCH_COLOUR = {"violation": "#d0676b", "abort": "#dd9a52", "removed": "#a28bc9"}
_FONT = 6.5
#: the title's size (a caller wraps its lines to the width with it)
TITLE_FONT = _FONT + 1.5
_MIN_STMT_FONT = 4.8
#: inches: left (lane names), right, bottom (step numbers)
_LEFT, _RIGHT, _BOTTOM = 0.85, 0.15, 0.38
_BAR = 0.15  # the function bar of a lane
_ROW = 0.15  # one row of markers above the lanes
_TITLE_LINE = 0.17
_MAX_WIDTH, _STEP_WIDTH = 16.0, 0.17


def lanes_width(nsteps: int) -> float:
    """The figure's width in inches for ``nsteps`` steps: grows with them, capped."""
    return min(max(_LEFT + _RIGHT + max(nsteps, 1) * _STEP_WIDTH, 6.5), _MAX_WIDTH)


def _marks(boxes: list[LaneBox]) -> list[tuple[int, str, str]]:
    """``(step, kind, words)`` of each marker above the lanes."""
    out = []
    for b in boxes:
        for kind, names in (("violation", b.violations), ("abort", b.aborts),
                            ("removed", b.removed)):
            if names:
                out.append((b.step, kind,
                            f"{_MARK[kind][3]}: {', '.join(names)} (step {b.step})"))
    return out


def _place_marks(marks: list[tuple[int, str, str]], n: int,
                 step_in: float) -> list[tuple[int, str]]:
    """A row and side for each marker: it starts at its step, or ends there when
    starting would run past the right edge; markers in one row do not overlap."""
    sides, spans = [], []
    for x, _, words in marks:
        w = text.width_points(words, _FONT, weight="bold") / 72 / step_in
        ha, start, end = (("left", x - 0.45, x - 0.45 + w) if x - 0.45 + w <= n - 0.5
                          else ("right", x + 0.45 - w, x + 0.45))
        sides.append(ha)
        spans.append((start, end))
    return list(zip(text.pack_rows(spans, 0.5), sides, strict=True))


def swim_lanes(run: Run, highlight: int | None = None, *, title: str | None = None) -> Figure:
    """The run as swim-lanes (see the module docstring).  ``highlight``: a step to
    outline (the widget's current one, a counterexample's violating step);
    ``title``: lines of text above the picture (already wrapped).

    Drawn for speed, as the timeline: text as cached outlines (:mod:`.text`),
    boxes as one collection per kind, no Tick objects, fixed margins."""
    boxes = lanes_data(run)
    tasks = run.tasks
    n = max(len(boxes), 1)
    width = lanes_width(n)
    step_in = (width - _LEFT - _RIGHT) / n
    stmt_font = round(min(_FONT + 0.5, step_in * 72 * 0.7), 1)
    show_stmt = stmt_font >= _MIN_STMT_FONT
    stmts = [steps.shorten(b.snippet, SNIPPET_CHARS) for b in boxes]
    longest = max((text.width_points(t, stmt_font, text.MONO) for t in stmts), default=0.0)
    box_in = longest / 72 + 0.1 if show_stmt else 0.3
    lane_in = _BAR + box_in + 0.08
    marks = _marks(boxes)
    placed = _place_marks(marks, n, step_in)
    nrows = max((r for r, _ in placed), default=-1) + 1
    title_lines = title.count("\n") + 1 if title else 0
    top = 0.1 + nrows * _ROW + title_lines * _TITLE_LINE + (0.1 if title else 0)
    lanes_h = len(tasks) * lane_in
    height = _BOTTOM + lanes_h + top

    fig = Figure(figsize=(width, height), dpi=DPI)
    ax = fig.add_axes((_LEFT / width, _BOTTOM / height, (width - _LEFT - _RIGHT) / width,
                       lanes_h / height))
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(0, len(tasks))
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    bar_h = _BAR / lane_in
    pad = 0.04 / lane_in

    def lane_top(tid: int) -> float:
        return len(tasks) - tid

    # lane backgrounds and names
    for t in tasks:
        if t.tid % 2:
            ax.axhspan(lane_top(t.tid) - 1, lane_top(t.tid), color="#f4f4f4", zorder=0)
    text.add_texts(ax, [(0, lane_top(t.tid) - 0.5, f"T{t.tid}\n{t.name}") for t in tasks],
                   transform=offset_copy(blended_transform_factory(ax.transAxes, ax.transData),
                                         fig=fig, x=-5, units="points"),
                   size=_FONT + 1, ha="right", va="center")

    # the boxes, one collection per kind (a hatch is per collection)
    groups: dict[str, list[LaneBox]] = {}
    for b in boxes:
        groups.setdefault(b.kind, []).append(b)
    for kind, bs in groups.items():
        polys = []
        for b in bs:
            x0, x1 = b.step - 0.44, b.step + 0.44
            y0, y1 = lane_top(b.tid) - 1 + pad, lane_top(b.tid) - bar_h - pad
            polys.append([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
        if kind == "step":
            ax.add_collection(PolyCollection(
                polys, facecolors=[_LANE_FACE[b.tid % 4] for b in bs],
                edgecolors=[_LANE_EDGE[b.tid % 4] for b in bs], linewidths=0.6, zorder=2))
        else:
            face, edge, hatch, _ = _MARK[kind]
            ax.add_collection(PolyCollection(polys, facecolors=face,
                                             edgecolors=_HATCH_COLOUR[kind], linewidths=0,
                                             hatch=hatch, zorder=2))
            ax.add_collection(PolyCollection(polys, facecolors="none", edgecolors=edge,
                                             linewidths=1.2, zorder=3))
    if show_stmt:
        text.add_texts(ax, [(b.step, lane_top(b.tid) - 1 + pad, t)
                            for b, t in zip(boxes, stmts, strict=True)],
                       transform=offset_copy(ax.transData, fig=fig, y=3, units="points"),
                       size=stmt_font, family=text.MONO, ha="left", va="center", rotation=90)

    # function bars, named when the name fits
    names = []
    polys = []
    colours = []
    for tid, first, last, fn in function_runs(boxes):
        y = lane_top(tid) - bar_h
        polys.append([(first - 0.47, y), (last + 0.47, y), (last + 0.47, y + bar_h * 0.9),
                      (first - 0.47, y + bar_h * 0.9)])
        colours.append(_LANE_EDGE[tid % 4])
        room = (last - first + 0.9) * step_in * 72 - 2
        name = steps.shorten(fn, int(room / ((_FONT - 0.5) * 0.6)))
        if len(name) >= 3 or name == fn:
            names.append(((first + last) / 2, y + bar_h * 0.45, name))
    ax.add_collection(PolyCollection(polys, facecolors=colours, edgecolors="none", zorder=2))
    text.add_texts(ax, names, transform=ax.transData, size=_FONT - 0.5, colours="white",
                   ha="center", va="center", zorder=5)

    # step numbers under the lanes: every step if they fit, else every 2nd, 5th...
    every = next(k for k in (1, 2, 5, 10, 20, 50, 100) if step_in * k >= 0.2)
    shown = [b.step for b in boxes if b.step % every == 0]
    text.add_ticks(ax, "x", shown, [str(x) for x in shown], size=_FONT - 0.5, length=2)
    text.add_texts(ax, [(1.0, 0.0, "step")], transform=offset_copy(
        ax.transAxes, fig=fig, y=-15, units="points"), size=_FONT, ha="right", va="top")

    # markers above the lanes, each on its row and naming its step; a short stem
    # on the lanes' top edge points at the step (a stem up to a higher row would
    # cross the words of the rows below it)
    above = blended_transform_factory(ax.transData, fig.transFigure)
    lanes_top = (_BOTTOM + lanes_h) / height
    for (x, kind, words), (row, ha) in zip(marks, placed, strict=True):
        y = lanes_top + (0.05 + row * _ROW) / height
        text.add_texts(ax, [(x - 0.45 if ha == "left" else x + 0.45, y, words)],
                       transform=above, size=_FONT, colours=_MARK[kind][1], weight="bold",
                       ha=ha, va="bottom", zorder=6)
    for x in sorted({x for x, _, _ in marks}):
        ax.plot([x, x], [lanes_top, lanes_top + 0.04 / height], color="#333333", lw=1.2,
                transform=above, clip_on=False, zorder=5)

    if highlight is not None and 0 <= highlight < len(boxes):
        b = boxes[highlight]
        ax.axvspan(highlight - 0.5, highlight + 0.5, color="#ffe680", alpha=0.6, zorder=1)
        ax.add_patch(Rectangle((highlight - 0.47, lane_top(b.tid) - 1 + pad * 0.5), 0.94,
                               1 - bar_h - pad * 0.5, fill=False, edgecolor="black", lw=1.6,
                               zorder=6))

    pts = text.points(fig)
    if title:
        text.add_texts(fig, [(0.1 * 72, height * 72 - 6, title)], transform=pts,
                       size=TITLE_FONT, weight="bold", va="top")
    if not show_stmt:
        text.add_texts(fig, [((width - _RIGHT) * 72, height * 72 - 6,
                              f"{n} steps: too many to write each statement here")],
                       transform=pts, size=_FONT, ha="right", va="top")
    return fig
