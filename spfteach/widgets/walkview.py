"""WalkView: type or slide an address, and walk it through the page tables one level
at a time — which bits index the level, the entry read there, its kind, and
where the walk stops (and what the fault handler would then do).

The same walk as ``spfteach walk`` and the drills (:func:`Machine.walk`,
:func:`drills.walk.outcome`); the picture is :func:`viz.walk.walk_svg`, inlined
so it fits the cell.  A bad or non-canonical address is a message in the
widget, never a traceback.
"""

from __future__ import annotations

import bisect
import html
import re

import ipywidgets as W

from ..drills.walk import build_map, mapped_pages, outcome
from ..model import pgtable
from ..model.errors import UsageError
from ..model.machine import Machine, WalkLevel
from ..model.pgtable import Kind
from ..viz.statepanel import CSS
from ._base import Shown
from .safe import guarded

_ADDRESS = re.compile(r"^(0[xX][0-9a-fA-F]{1,16}|[0-9]{1,20})$", re.ASCII)


class AddressInputError(UsageError, ValueError):
    """An address the box cannot read."""


def parse_address(text: str) -> int:
    """``0x7f...`` or decimal, ASCII digits only (``int()`` would take ``'١'``)."""
    t = text.strip().replace("_", "")
    if not _ADDRESS.match(t):
        raise AddressInputError(f"cannot read {text.strip()[:40]!r} as an address: type it in "
                                "hex (0x7f0000001000) or decimal")
    return int(t, 0)


def _level_rows(k: Machine, address: int, walk: list[WalkLevel], upto: int) -> list[str]:
    rows = []
    shown = [lvl for lvl in walk if not lvl.folded][:upto]
    for lvl in shown:
        hi, lo = pgtable.field_bits(lvl.level, k.la57)
        e = lvl.entry
        if lvl.table is None:
            read, kind, then = "—", "—", "not reached"
        else:
            read = html.escape(str(e)) if e is not None else "none"
            kind = e.kind.value if e is not None else "none"
            if e is not None and e.kind is Kind.TABLE:
                then = f"continues to pt{e.target}"
            else:
                then = "<b>the walk stops here</b>"
        rows.append(f"<tr><th>{lvl.level}</th><td>{hi}..{lo}</td><td>{lvl.index}</td>"
                    f"<td>{'pt' + str(lvl.table) if lvl.table is not None else '—'}</td>"
                    f"<td>{read}</td><td>{kind}</td><td>{then}</td></tr>")
    return rows


class WalkView(Shown):
    """``WalkView(seed_or_machine, address=None)``: a drill map from a seed, or any Machine."""

    def __init__(self, machine_or_seed: Machine | int = 1, address: int | str | None = None
                 ) -> None:
        if isinstance(machine_or_seed, Machine):
            self.machine = machine_or_seed
        elif isinstance(machine_or_seed, int) and not isinstance(machine_or_seed, bool):
            self.machine = build_map(machine_or_seed)
        else:
            raise AddressInputError(f"WalkView takes a seed (an int, as `spfteach walk --seed`) "
                                    f"or a Machine, not {type(machine_or_seed).__name__}")
        self.pages = mapped_pages(self.machine)
        if address is None:
            address = self.pages[0] if self.pages else self.machine.mm.mmap[0].vm_start
        self.address = parse_address(address) if isinstance(address, str) else int(address)
        pgtable.check_user_address(self.address, self.machine.la57)
        self.revealed = 0
        self._widget: W.VBox | None = None
        self._error = ""

    # --- the Python API ---------------------------------------------------------

    @property
    def levels(self) -> list[WalkLevel]:
        """The walk's levels (the folded p4d of 4-level paging left out)."""
        return [lvl for lvl in self.machine.walk(self.address) if not lvl.folded]

    @property
    def depth(self) -> int:
        """How many levels the walk reads before it stops."""
        n = 0
        for lvl in self.levels:
            if lvl.table is None:
                break
            n += 1
        return n

    @property
    def complete(self) -> bool:
        return self.revealed >= self.depth

    def set_address(self, address: int | str) -> None:
        """Walk another address from the top; a bad one raises AddressInputError or
        pgtable.AddressError and keeps the current one."""
        a = parse_address(address) if isinstance(address, str) else int(address)
        pgtable.check_user_address(a, self.machine.la57)
        self.address = a
        self.revealed = 0
        self._refresh()

    def next_level(self) -> None:
        if not self.complete:
            self.revealed += 1
        self._refresh()

    def whole_walk(self) -> None:
        self.revealed = self.depth
        self._refresh()

    def result(self) -> str:
        """Where the walk ends, in words (the translation, or what a fault would do)."""
        o = outcome(self.machine, self.address, self.machine.walk(self.address))
        phys = f" → physical {o.physical:#x}" if o.physical is not None else ""
        return f"{o.meaning}{phys}"

    # --- display ------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"WalkView({self.address:#x}): {self.result()}"

    def _build(self) -> None:
        guard = guarded(self._show_error)
        self.address_box = W.Text(value=f"{self.address:#x}", description="Address:",
                                  tooltip="A user address in hex or decimal, then Walk it")
        self.go_button = W.Button(description="Walk it", tooltip="Walk the typed address "
                                  "from the top level")
        n = max(len(self.pages) - 1, 0)
        self.slider = W.IntSlider(value=self._page_index(), min=0, max=n,
                                  description="Mapped page:", continuous_update=False,
                                  style={"description_width": "initial"},
                                  disabled=not self.pages,
                                  tooltip="Move over the pages the tables map")
        self.next_button = W.Button(description="Next level", button_style="primary",
                                    tooltip="Read the entry of the next level")
        self.all_button = W.Button(description="Whole walk", tooltip="Show every level")
        self.error = W.HTML()
        self.table = W.HTML()
        self.picture = W.HTML()

        def typed(_b: object) -> None:
            self.set_address(self.address_box.value)

        self.go_button.on_click(guard(typed))
        self._syncing = False

        def slid(change: dict) -> None:
            if not self._syncing:
                self.set_address(self.pages[change["new"]])

        self.slider.observe(guard(slid), "value")
        self.next_button.on_click(guard(lambda _b: self.next_level()))
        self.all_button.on_click(guard(lambda _b: self.whole_walk()))
        self._widget = W.VBox([W.HTML(CSS), W.HBox([self.address_box, self.go_button]),
                               self.slider, W.HBox([self.next_button, self.all_button]),
                               self.error, self.table, self.picture])

    def _page_index(self) -> int:
        """The slider position of the last mapped page at or below the address."""
        return max(bisect.bisect_right(self.pages, self.address) - 1, 0)

    def _refresh(self) -> None:
        if self._widget is None:
            return
        from ..viz.walk import walk_svg  # draws with `dot`: only when shown

        self._error = ""
        self.error.value = ""
        self._syncing = True
        try:
            self.address_box.value = f"{self.address:#x}"
            if self.pages:
                self.slider.value = self._page_index()
        finally:
            self._syncing = False
        k = self.machine
        f = pgtable.split_address(self.address, k.la57)
        fields = " ".join(f"{lvl} <b>{f[lvl]}</b>" for lvl in pgtable.LEVELS
                          if not (lvl == "p4d" and k.folded))
        rows = _level_rows(k, self.address, k.walk(self.address), self.revealed)
        head = ("<tr><th>level</th><th>bits</th><th>index</th><th>table</th>"
                "<th>entry read</th><th>kind</th><th>then</th></tr>")
        done = (f"<p>✔ <b>{html.escape(self.result())}</b></p>" if self.complete
                else f"<p>Level {self.revealed} of {self.depth} read: press <i>Next level</i>"
                     "</p>")
        self.table.value = (f'<div class="spf-state"><p><code>{self.address:#014x}</code>: '
                            f"{fields}, offset <b>{f['offset']:#x}</b></p>"
                            f"<table>{head}{''.join(rows)}</table>{done}</div>")
        self.next_button.disabled = self.complete
        self.picture.value = walk_svg(k, self.address) if self.complete else ""
