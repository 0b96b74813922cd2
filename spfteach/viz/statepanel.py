"""The state panel: the shared kernel state after the last step, what it changed marked.

Built from the scheduler's flat snapshot (the same keys the text traces print as
``changed: ...``), grouped the way the C thinks of it: the VMAs, the page-table
pages and their life, the locks and their holders, the CPUs (IRQ flag, pending
IPIs) and RCU, the pages.  A changed value is marked with ``◆`` and bold as well
as colour, so the change is visible without colour.
"""

from __future__ import annotations

import html
import re

_VMA_FIELDS = ("range", "vm_flags", "vm_sequence", "anon_vma", "vm_ref_count", "in_tree",
               "freed", "vm_policy", "vm_ops")

CSS = """
<style>
.spf-state { overflow-x: auto; font-size: 12px; font-family: var(--jp-ui-font-family, sans-serif); }
.spf-state table { border-collapse: collapse; margin: 2px 12px 6px 0; }
.spf-state .spf-wide { overflow-x: auto; max-width: 100%; }
.spf-state th, .spf-state td { border: 1px solid #d0d5dc; padding: 1px 6px; text-align: left;
  font-family: var(--jp-code-font-family, monospace); white-space: nowrap; line-height: 1.4; }
.spf-state th { background: #eef1f5; font-family: inherit; }
.spf-state td.spf-changed { background: #ffe9a8; font-weight: bold; }
.spf-state .spf-sec { display: inline-block; vertical-align: top; }
.spf-state caption { text-align: left; font-weight: bold; padding: 2px 0; }
.spf-error { background: #fde2e1; border: 1px solid #b00020; padding: 4px 8px; color: #5c0011; }
.spf-banner { padding: 6px 10px; border: 2px solid; font-size: 14px; }
.spf-banner.spf-bad { background: #fde2e1; border-color: #b00020; }
.spf-banner.spf-won { background: #e2f5e4; border-color: #1e7b34; }
.spf-banner.spf-goal { background: #eef3fb; border-color: #3b73b9; }
.spf-banner.spf-done { background: #f3f3f3; border-color: #888; }
</style>
"""


def _natural(key: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", key)]


def _cell(state: dict[str, object], key: str, changed: set[str], shown: str | None = None) -> str:
    value = state.get(key, "—")
    text = html.escape(str(value) if shown is None else shown)
    if key in changed:
        return f'<td class="spf-changed" title="changed by the last step">◆ {text}</td>'
    return f"<td>{text}</td>"


def _table(caption: str, head: list[str], rows: list[str]) -> str:
    if not rows:
        return ""
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return (f'<div class="spf-sec"><table><caption>{html.escape(caption)}</caption>'
            f"<tr>{th}</tr>{''.join(rows)}</table></div>")


def state_html(state: dict[str, object], changed: set[str]) -> str:
    """The panel for ``state`` (a ``Machine.snapshot()``), marking the keys in ``changed``."""
    keys = sorted(state, key=_natural)
    vmas = sorted({k.split(".")[0] for k in keys if re.match(r"vma\d+\.", k)}, key=_natural)
    vrows = []
    for v in vmas:
        seq = state.get(f"{v}.vm_sequence")
        cells = []
        for f in _VMA_FIELDS:
            key = f"{v}.{f}"
            shown = None
            if f == "vm_sequence" and isinstance(seq, int):
                shown = f"{seq} (odd: writer inside)" if seq % 2 else f"{seq} (even)"
            cells.append(_cell(state, key, changed, shown))
        vrows.append(f"<tr><th>{v}</th>{''.join(cells)}</tr>")
    vma_t = _table("VMAs (tree: " + str(state.get("tree", "")) + ")", ["", *_VMA_FIELDS], vrows)

    pts = [k for k in keys if re.fullmatch(r"pt\d+", k)]
    prow = []
    for pt in pts:
        entries = [k for k in keys if k.startswith(pt + "[")]
        ent = ", ".join(f"[{k[len(pt) + 1:-1]}] {state[k]}" for k in entries) or "(empty)"
        mark = any(k in changed for k in entries)
        ent_cell = (f'<td class="spf-changed">◆ {html.escape(ent)}</td>' if mark
                    else f"<td>{html.escape(ent)}</td>")
        prow.append(f"<tr><th>{pt}</th>{_cell(state, pt, changed)}{ent_cell}</tr>")
    pt_t = _table("Page-table pages", ["", "level, life", "entries"], prow)

    locks = ["mmap_lock", "page_table_lock"] + [k for k in keys if k.startswith("ptl(")]
    lrow = [f"<tr><th>{html.escape(k)}</th>{_cell(state, k, changed)}</tr>" for k in locks
            if k in state]
    lock_t = _table("Locks (holder)", ["lock", "held by"], lrow)

    cpus = [k for k in keys if re.fullmatch(r"cpu\d+", k)]
    crow = [f"<tr><th>{k}</th>{_cell(state, k, changed)}</tr>" for k in cpus]
    crow.append(f"<tr><th>RCU readers</th>{_cell(state, 'rcu_readers', changed)}</tr>")
    cpu_t = _table("CPUs: IRQs, pending IPIs; RCU", ["", "state"], crow)

    other = [k for k in keys if re.fullmatch(r"(page|swap|pol)\d+", k)]
    orow = [f"<tr><th>{k}</th>{_cell(state, k, changed)}</tr>" for k in other]
    page_t = _table("Pages, swap, policies", ["", "state"], orow)
    return (f'{CSS}<div class="spf-state"><div class="spf-wide">{vma_t}</div>'
            f"{pt_t}{lock_t}{cpu_t}{page_t}</div>")
