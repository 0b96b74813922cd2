"""The class report's picture: per assignment, one bar per graded part, split into the
students with full marks, part of them, and none.  Takes plain data (what
:meth:`spfteach.grading.report.ClassReport.as_plot_data` gives): the pictures never
import the grader."""

from __future__ import annotations

from matplotlib.figure import Figure

from .render import DPI

COLOURS = {"full": "#1b7f3b", "partial": "#e0a526", "none": "#b00020"}


def class_report_figure(data: dict[str, dict[str, tuple[int, int, int]]],
                        title: str = "") -> Figure:
    """``data``: assignment -> part -> (full, partial, none), in students."""
    assignments = sorted(data)
    rows = [len(data[a]) for a in assignments]
    fig = Figure(figsize=(9, 1.0 + 0.42 * sum(rows) + 0.55 * len(assignments)), dpi=DPI,
                 layout="constrained")
    axes = fig.subplots(len(assignments), 1, squeeze=False,
                        gridspec_kw={"height_ratios": [max(r, 1) for r in rows]})[:, 0]
    for ax, a in zip(axes, assignments, strict=True):
        parts = list(data[a])
        full = [data[a][p][0] for p in parts]
        partial = [data[a][p][1] for p in parts]
        none = [data[a][p][2] for p in parts]
        y = range(len(parts))
        ax.barh(y, full, color=COLOURS["full"], label="full marks")
        ax.barh(y, partial, left=full, color=COLOURS["partial"], label="part of them")
        ax.barh(y, none, left=[f + p for f, p in zip(full, partial, strict=True)],
                color=COLOURS["none"], label="none")
        ax.set_yticks(list(y), [p if len(p) <= 48 else p[:46] + "…" for p in parts], fontsize=8)
        ax.invert_yaxis()
        ax.set_title(a, loc="left", fontsize=10, weight="bold")
        ax.tick_params(axis="x", labelsize=8)
        ax.set_xlim(0, max((f + p + n for f, p, n in data[a].values()), default=1))
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[-1].set_xlabel("students", fontsize=9)
    axes[0].legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=3, fontsize=8,
                   frameon=False)
    if title:
        fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    return fig
