"""What a weakly ordered CPU lets a seqcount reader see, beside what the model shows.

Two panels, time going down, the writer's lane on the left and the reader's on
the right.  Left: the model, sequentially consistent, where the reader that read
a torn pair sees the count move and retries.  Right: a weakly ordered CPU
(arm64, powerpc) with the writer's ``smp_wmb()`` taken out: the store to ``a``
becomes visible before the count turns odd, and the reader validates a torn
pair against an even count that never moved.  Each of the reader's loads points
at the store it reads from.  A picture of the protocol, not a run of the model:
the model cannot produce the right-hand side (its steps are sequentially
consistent).
"""

from __future__ import annotations

from matplotlib.figure import Figure

from .render import DPI

#: (time, what) of each lane: the writer's stores as the reader's CPU sees them
#: become visible, and the reader's loads, with the store each reads from.
Event = tuple[float, str, str]  # time, label, the label of the store it reads ("" for a store)

INITIAL = "seq = 0, a = 0, b = 0"
SC_WRITER: list[Event] = [(0, INITIAL, ""), (1, "seq = 1", ""), (2.5, "a = 1", ""),
                          (4, "b = 1", ""), (5.5, "seq = 2", "")]
SC_READER: list[Event] = [(0.6, "read seq: 0", INITIAL), (3.0, "read a: 1", "a = 1"),
                          (3.5, "read b: 0", INITIAL), (4.6, "read seq: 1", "seq = 1"),
                          (5.3, "seq moved: retry", "")]
WEAK_WRITER: list[Event] = [(0, INITIAL, ""), (1, "a = 1", ""), (4, "seq = 1", ""),
                            (5, "b = 1", ""), (6, "seq = 2", "")]
WEAK_READER: list[Event] = [(0.6, "read seq: 0", INITIAL), (1.6, "read a: 1", "a = 1"),
                            (2.3, "read b: 0", INITIAL), (3.0, "read seq: 0", INITIAL),
                            (3.7, "seq did not move:\nreturns (1, 0)", "")]


def _panel(ax, title: str, writer: list[Event], reader: list[Event],
           bad: bool) -> None:  # noqa: ANN001 - a matplotlib Axes
    xw, xr = 0.0, 1.0
    bottom = max(t for t, _, _ in writer + reader) + 0.7
    ax.set_xlim(-0.55, 1.55)
    ax.set_ylim(bottom, -1.5)
    ax.axis("off")
    ax.set_title(title, fontsize=9.5, loc="left")
    for x, who in ((xw, "writer (T1): stores, as\nthe reader's CPU sees them"),
                   (xr, "reader (T0): loads")):
        ax.plot([x, x], [-0.3, bottom - 0.2], color="0.8", lw=1, zorder=0)
        ax.text(x, -0.5, who, ha="center", va="bottom", fontsize=8.5, weight="bold")
    where = {label: t for t, label, _ in writer}
    for t, label, _ in writer:
        ax.text(xw, t, label, ha="center", va="center", fontsize=8.5,
                bbox={"boxstyle": "round,pad=0.25", "fc": "#e8f0fe", "ec": "#4a7bd0"})
    for t, label, src in reader:
        final = not src
        colour = "#b00020" if final and bad else "#1b7f3b" if final else "black"
        ax.text(xr, t, label, ha="center", va="center", fontsize=8.5, color=colour,
                weight="bold" if final else "normal",
                bbox={"boxstyle": "round,pad=0.25", "fc": "white",
                      "ec": colour if final else "0.4"})
        if src in where:
            ax.annotate("", xy=(xw + (0.5 if src == INITIAL else 0.22), where[src]),
                        xytext=(xr - 0.3, t),
                        arrowprops={"arrowstyle": "->", "color": "0.5", "lw": 0.8,
                                    "shrinkA": 1, "shrinkB": 1})


def message_passing_figure() -> Figure:
    """The two panels side by side (see the module docstring)."""
    fig = Figure(figsize=(9.6, 4.6), dpi=DPI, layout="constrained")
    left, right = fig.subplots(1, 2)
    _panel(left, "In the model (sequentially consistent): stores seen in program order;\n"
           "a torn read is caught, the count moved", SC_WRITER, SC_READER, bad=False)
    _panel(right, "Weakly ordered, writer without smp_wmb(): a = 1 is seen before\n"
           "seq = 1; the torn (1, 0) passes an unmoved, even count", WEAK_WRITER, WEAK_READER,
           bad=True)
    fig.text(0.5, 0.0, "time goes down; each arrow points from a load to the store it reads",
             ha="center", va="bottom", fontsize=8, color="0.35")
    return fig
