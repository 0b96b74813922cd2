"""Text drawn as cached glyph outlines, many labels in one collection.

Why not ``ax.text``: matplotlib 3.11's Agg backend renders every glyph through
a Python loop (``_draw_text_glyphs_and_boxes``), measured here at 0.15-0.25 ms
a glyph; a 60-step swim-lane picture holds ~2000 glyphs, so ``ax.text`` alone
cost over half a second per redraw, and the widget redraws on every click.  A
label's outline (a :class:`~matplotlib.textpath.TextPath`) is computed once per
string and kept (:func:`outline`); all the labels of one style go into one
:class:`~matplotlib.collections.PathCollection` placed by offsets, which Agg
fills in one C++ call.  A warm redraw of those 2000 glyphs then costs under
20 ms (measured on a loaded 2-core machine; the first drawing of a label costs
about what ``ax.text`` does, once).

The price: no hinting (at 90 dpi a 6-pt label is a little softer), no text in
the SVG (outlines, as matplotlib's own SVG default), and alignment done here
from font metrics instead of by matplotlib (:func:`outline`'s ``ha``/``va``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.path import Path
from matplotlib.textpath import TextPath
from matplotlib.transforms import Affine2D, Transform, blended_transform_factory, offset_copy

SANS = "DejaVu Sans"
MONO = "DejaVu Sans Mono"
#: DejaVu's ascent above the baseline and descent below it, in font sizes
#: (close to its cap height and descender: what ``va`` aligns on)
ASCENT, DESCENT = 0.76, 0.24
LINE_SPACING = 1.25


@lru_cache(maxsize=4096)
def _glyphs(text: str, size: float, family: str, weight: str) -> tuple[Path, float]:
    """The text's outline at the origin (first baseline on y=0, lines stacked
    below), and its width: the one expensive step, shared by every alignment."""
    prop = FontProperties(family=family, weight=weight, size=size)
    verts: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for i, line in enumerate(text.split("\n")):
        if not line.strip():
            continue
        p = TextPath((0, 0), line, size=size, prop=prop)
        v = p.vertices.copy()
        v[:, 1] -= i * size * LINE_SPACING
        verts.append(v)
        codes.append(p.codes if p.codes is not None else np.full(len(v), Path.LINETO))
    if not verts:
        return Path(np.zeros((1, 2)), [Path.MOVETO]), 0.0
    v = np.concatenate(verts)
    # the vertices' span, not Path.get_extents(), which solves each Bézier (60 ms a label)
    return Path(v, np.concatenate(codes)), float(v[:, 0].max() - min(v[:, 0].min(), 0.0))


def width_points(text: str, size: float, family: str = SANS, weight: str = "normal") -> float:
    """How wide ``text`` is, in points (its longest line)."""
    return _glyphs(text, size, family, weight)[1]


@lru_cache(maxsize=4096)
def outline(text: str, size: float, family: str = SANS, weight: str = "normal",
            ha: str = "left", va: str = "baseline", rotation: int = 0) -> Path:
    """The outline of ``text`` in points, aligned on the origin.

    ``ha`` (left, center, right) and ``va`` (baseline, bottom, center, top) place
    the unrotated text's box on the origin: the box's height comes from the
    font's metrics, not from the glyphs, so labels in a row share a baseline
    whatever their letters.  ``rotation`` (0 or 90, counter-clockwise) turns the
    aligned text about the origin (matplotlib's ``rotation_mode="anchor"``):
    rotated ``ha="left", va="center"`` is a vertical label reading upwards from
    the origin.  Lines are split on ``\\n``.
    """
    path, _ = _glyphs(text, size, family, weight)
    x0, _, _, y1 = _box(text, size, family, weight, ha, va)
    # the outline's first baseline is at 0; the box's top is ASCENT above it
    return Path(_turn(path.vertices + (x0, y1 - size * ASCENT), rotation), path.codes)


def _box(text: str, size: float, family: str, weight: str, ha: str,
         va: str) -> tuple[float, float, float, float]:
    """The unrotated text's box ``(x0, y0, x1, y1)`` in points around the origin,
    after alignment: its width measured, its height the font's lines."""
    width = _glyphs(text, size, family, weight)[1]
    height = size * (ASCENT + DESCENT) + text.count("\n") * size * LINE_SPACING
    x0 = {"left": 0.0, "center": -width / 2, "right": -width}[ha]
    # y0 is the box's bottom; the first baseline is ASCENT below its top
    y0 = {"baseline": -(height - size * ASCENT), "bottom": 0.0, "top": -height,
          "center": -height / 2}[va]
    return x0, y0, x0 + width, y0 + height


def _turn(v: np.ndarray, rotation: int) -> np.ndarray:
    if rotation == 90:
        return v @ np.array([[0.0, 1.0], [-1.0, 0.0]])
    if rotation != 0:
        raise ValueError(f"rotation {rotation}: only 0 and 90 are drawn")
    return v


def add_texts(host: Axes | Figure, items: Sequence[tuple[float, float, str]], *,
              transform: Transform, size: float, colours: str | Sequence[str] = "black",
              family: str = SANS, weight: str = "normal", ha: str = "left",
              va: str = "baseline", rotation: int = 0, zorder: float = 4,
              clip: bool = False, backdrop: str | None = None) -> Artist | None:
    """Draw ``(x, y, text)`` items, ``(x, y)`` in ``transform``'s coordinates (data,
    axes, figure or a blend), as one collection.  Returns it (None: no items).

    ``backdrop``: a colour to fill each label's box with, under the text, so a
    line passing behind a label (a leader to a higher row) does not cross it."""
    if not items:
        return None
    fig = host if isinstance(host, Figure) else host.figure
    assert isinstance(fig, Figure)
    offsets = [(x, y) for x, y, _ in items]
    if backdrop is not None:
        boxes = []
        for _, _, t in items:
            x0, y0, x1, y1 = _box(t, size, family, weight, ha, va)
            corners = np.array([(x0 - 1, y0), (x1 + 1, y0), (x1 + 1, y1), (x0 - 1, y1),
                                (x0 - 1, y0)])
            boxes.append(Path(_turn(corners, rotation), closed=True))
        _add(host, fig, PathCollection(boxes, offsets=offsets, offset_transform=transform,
                                       facecolors=backdrop, edgecolors="none", linewidths=0,
                                       zorder=zorder - 0.01), clip)
    paths = [outline(t, size, family, weight, ha, va, rotation) for _, _, t in items]
    pc = PathCollection(paths, offsets=offsets, offset_transform=transform,
                        facecolors=colours, edgecolors="none", linewidths=0, zorder=zorder)
    return _add(host, fig, pc, clip)


def _add(host: Axes | Figure, fig: Figure, pc: PathCollection, clip: bool) -> PathCollection:
    # the paths are in points: points -> inches -> pixels at whatever dpi it is drawn
    pc.set_transform(points(fig))
    pc.set_clip_on(clip)
    if isinstance(host, Axes):
        host.add_collection(pc, autolim=False)
    else:
        host.add_artist(pc)
    return pc


def points(fig: Figure) -> Transform:
    """Figure coordinates in points from the lower left corner (for rows of text
    laid out by their measured widths)."""
    return Affine2D().scale(1 / 72) + fig.dpi_scale_trans


def add_ticks(ax: Axes, axis: str, positions: Sequence[float], labels: Sequence[str], *,
              size: float, length: float = 3.0) -> None:
    """Tick marks and labels without :class:`~matplotlib.axis.Tick` objects (each
    one makes five artists: 13 ticks cost more than the rest of a timeline).
    ``axis`` is ``"x"`` (below the axes) or ``"y"`` (left of them)."""
    fig = ax.figure
    assert isinstance(fig, Figure)
    if axis == "x":
        at = blended_transform_factory(ax.transData, ax.transAxes)
        text_at = offset_copy(at, fig=fig, y=-length - 1.5, units="points")
        items = [(p, 0.0, t) for p, t in zip(positions, labels, strict=True)]
        tick = Path([(0.0, 0.0), (0.0, -length)])
        ha, va = "center", "top"
    elif axis == "y":
        at = blended_transform_factory(ax.transAxes, ax.transData)
        text_at = offset_copy(at, fig=fig, x=-length - 2, units="points")
        items = [(0.0, p, t) for p, t in zip(positions, labels, strict=True)]
        tick = Path([(0.0, 0.0), (-length, 0.0)])
        ha, va = "right", "center"
    else:
        raise ValueError(f"axis {axis!r}: 'x' or 'y'")
    # one two-point path, in points, repeated at each tick's place on the axis
    pc = PathCollection([tick], offsets=[(x, y) for x, y, _ in items], offset_transform=at,
                        facecolors="none", edgecolors="#444444", linewidths=0.6, zorder=3)
    pc.set_transform(points(fig))
    pc.set_clip_on(False)
    ax.add_collection(pc, autolim=False)
    add_texts(ax, items, transform=text_at, size=size, ha=ha, va=va)


def wrap(words: str, width: float, size: float, family: str = SANS,
         weight: str = "normal") -> str:
    """``words`` broken into lines no wider than ``width`` points (measured, not
    counted: a title of capitals and one of ``l``\\ s differ by half), a word
    longer than a line on a line of its own."""
    lines: list[str] = []
    for para in words.split("\n"):
        line = ""
        for word in para.split():
            trial = f"{line} {word}" if line else word
            if line and width_points(trial, size, family, weight) > width:
                lines.append(line)
                line = word
            else:
                line = trial
        lines.append(line)
    return "\n".join(lines)


def pack_rows(spans: Sequence[tuple[float, float]], gap: float) -> list[int]:
    """The row of each ``(start, end)`` span, first fit from left to right: a span
    goes in the first row whose last span ended ``gap`` or more before it starts,
    so that labels in one row never overlap."""
    ends: list[float] = []
    rows = []
    for start, end in spans:
        for r, e in enumerate(ends):
            if e <= start:
                ends[r] = end + gap
                rows.append(r)
                break
        else:
            ends.append(end + gap)
            rows.append(len(ends) - 1)
    return rows
