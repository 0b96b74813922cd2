"""Picture of a page-table walk: the address fields, each table on the path, the
entry used at each level lit, and where the walk stops.

Pure function from model state to a ``graphviz.Digraph``; rendering needs the
``dot`` program, checked up front so a missing one is a one-line message.
"""

from __future__ import annotations

import html
import shutil

import graphviz

from ..model import pgtable
from ..model.machine import Machine
from ..model.pgtable import Kind
from .svgtext import check_prefix, fresh_prefix, inline_svg

#: one colour per level, used for the address field and the entry it selects
COLOURS = {"pgd": "#f4a259", "p4d": "#f4d35e", "pud": "#8cb369", "pmd": "#5b8e7d",
           "pte": "#9bc1bc", "offset": "#dddddd"}


class MissingTool(RuntimeError):
    """A program the picture needs is not installed."""


def require_dot() -> None:
    if shutil.which("dot") is None:
        raise MissingTool("Graphviz's `dot` program is missing: install it with "
                          "`sudo apt-get install graphviz` (or run `make setup`)")


def _fields_label(address: int, la57: bool) -> str:
    f = pgtable.split_address(address, la57)
    cells = []
    for lvl in (*pgtable.LEVELS, "offset"):
        if lvl == "offset":
            bits = "11..0"
            val = f"{f['offset']:#05x}"
        else:
            hi, lo = pgtable.field_bits(lvl, la57)
            bits = f"{hi}..{lo}"
            val = str(f[lvl])
        cells.append(f'<TD BGCOLOR="{COLOURS[lvl]}">{lvl}<BR/><FONT POINT-SIZE="9">'
                     f"bits {bits}</FONT><BR/><B>{val}</B></TD>")
    return (f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0"><TR><TD COLSPAN="6">'
            f"<B>{address:#014x}</B></TD></TR><TR>{''.join(cells)}</TR></TABLE>>")


def _table_label(k: Machine, pt_id: int, level: str, used: int, folded_note: bool) -> str:
    pt = k.pt_pages[pt_id]
    shown = sorted(set(list(pt.entries)[:3]) | {used})
    rows = [f'<TR><TD COLSPAN="2"><B>{level} table pt{pt_id}</B>'
            + (" (p4d folded)" if folded_note else "")
            + (f" [{pt.state.value}]" if pt.state.value != "linked" else "") + "</TD></TR>"]
    prev = None
    for idx in shown:
        if prev is not None and idx != prev + 1:
            rows.append('<TR><TD COLSPAN="2">…</TD></TR>')
        e = pt.get(idx)
        colour = f' BGCOLOR="{COLOURS[level]}"' if idx == used else ""
        port = ' PORT="used"' if idx == used else ""
        rows.append(f"<TR><TD{colour}>[{idx}]</TD><TD{colour}{port}>"
                    f"{html.escape(str(e))}</TD></TR>")
        prev = idx
    return f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0">{"".join(rows)}</TABLE>>'


def walk_graph(k: Machine, address: int) -> graphviz.Digraph:
    """The walk of ``address`` in ``k`` as a left-to-right graph."""
    pgtable.check_user_address(address, k.la57)
    g = graphviz.Digraph("walk", graph_attr={"rankdir": "LR", "fontname": "Helvetica"},
                         node_attr={"shape": "plaintext", "fontname": "Helvetica"})
    g.node("addr", _fields_label(address, k.la57))
    prev = "addr"
    walk = k.walk(address)
    for lvl in walk:
        if lvl.folded or lvl.table is None:
            continue
        name = f"t{lvl.table}"
        folded = lvl.level == "pgd" and k.folded
        g.node(name, _table_label(k, lvl.table, lvl.level, lvl.index, folded))
        g.edge(prev, name, label=f"{lvl.level} index {lvl.index}")
        prev = f"{name}:used"
        e = lvl.entry
        if e is None or e.kind is Kind.TABLE:
            continue
        offset_bits = pgtable.SHIFT[lvl.level]
        if e.kind in (Kind.PAGE, Kind.HUGE, Kind.DEVMAP):
            phys = (e.target << pgtable.PAGE_SHIFT) + (address & ((1 << offset_bits) - 1))
            size = {12: "4 KiB", 21: "2 MiB", 30: "1 GiB"}.get(offset_bits, "")
            g.node("end", f"{size} page frame {e.target:#x}\nphysical {phys:#x}",
                   shape="box", style="filled", fillcolor="#e0f0e0")
        else:
            g.node("end", f"walk stops: {lvl.level} entry is {e.kind.value}",
                   shape="box", style="filled", fillcolor="#f6d0d0")
        g.edge(prev, "end")
        break
    return g


class FittedSVG:
    """An SVG that a notebook shows inline, shrunk to the cell's width.

    ``display(Digraph)`` gives JupyterLab an ``image/svg+xml`` output, which it
    shows as an ``<img>`` of graphviz's fixed width in points, wider than the
    cell.  This object offers ``text/html`` first (the inline SVG with
    ``max-width:100%``, which JupyterLab prefers) and the SVG as a fallback for
    front ends that show no HTML."""

    def __init__(self, svg: str) -> None:
        self.svg = svg

    def _repr_html_(self) -> str:
        return f'<div class="spf-svg" style="max-width:100%;overflow:hidden">{self.svg}</div>'

    def _repr_svg_(self) -> str:
        return self.svg


def show_walk(k: Machine, address: int) -> FittedSVG:
    """The walk of ``address`` for a notebook cell, fitted to the cell's width
    (checks first that ``dot`` is there: a one-line message if not)."""
    return FittedSVG(walk_svg(k, address))


def walk_svg(k: Machine, address: int, *, id_prefix: str | None = None) -> str:
    """The walk as SVG text to inline in a cell (a widget's HTML, ``display(SVG)``).

    ``dot`` writes the picture ~1800 pt wide with fixed width and height, which
    overflows a JupyterLab cell: the root gets ``max-width:100%;height:auto``
    instead of the height, so it shrinks to the cell keeping its aspect ratio.
    Graphviz names its elements ``graph0``, ``node1``, ``edge1`` in every
    picture: each id is prefixed with ``id_prefix`` (a fresh one when None), so
    two walks on one page do not share ids.
    """
    require_dot()
    prefix = fresh_prefix("walk") if id_prefix is None else check_prefix(id_prefix)
    svg = walk_graph(k, address).pipe(format="svg", encoding="utf-8")
    return inline_svg(svg, prefix)
