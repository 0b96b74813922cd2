"""The state panel: the shared kernel state after the last step, what it changed marked.

Drawn from the sections of a :class:`~spfteach.model.snapshot.Snapshot` (no key is parsed
back into its parts), grouped the way the C thinks of it: the VMAs, the page-table
pages and their life, the locks and their holders, the CPUs (IRQ flag, pending
IPIs) and RCU, the pages.  A changed value is marked with ``◆`` and bold as well
as colour, so the change is visible without colour.
"""

from __future__ import annotations

import html

from ..model.snapshot import Snapshot, entry_key, pt_key, ptl_key, vma_key

_VMA_FIELDS = ("range", "vm_flags", "vm_sequence", "anon_vma", "vm_ref_count", "in_tree",
               "freed", "vm_policy", "vm_ops")
#: Under per-VMA locks the speculative fields (the VMA's seqcount and reference count) never
#: move: the VMA's lock sequence stands in their place (its lock is in the locks table).
_PER_VMA_FIELDS = ("range", "vm_flags", "vm_lock_seq", "anon_vma", "in_tree", "freed",
                   "vm_policy", "vm_ops")

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


def _cell(state: Snapshot, key: str, changed: set[str], shown: str | None = None) -> str:
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


def state_html(state: Snapshot, changed: set[str]) -> str:
    """The panel for ``state`` (a ``Machine.snapshot()``, drawn from its sections), marking
    the values whose flat keys are in ``changed``."""
    vrows = []
    # the snapshot of a per-VMA run has mm_lock_seq among its locks (Machine._vma_locks)
    names = _PER_VMA_FIELDS if "mm_lock_seq" in state.locks else _VMA_FIELDS
    for v in sorted(state.vmas):
        fields = state.vmas[v]
        seq = fields.get("vm_sequence")
        cells = []
        for f in names:
            shown = None
            if f == "vm_sequence" and isinstance(seq, int):
                shown = f"{seq} (odd: writer inside)" if seq % 2 else f"{seq} (even)"
            cells.append(_cell(state, vma_key(v, f), changed, shown))
        vrows.append(f"<tr><th>vma{v}</th>{''.join(cells)}</tr>")
    vma_t = _table(f"VMAs (tree: {state.tree})", ["", *names], vrows)

    prow = []
    for p in sorted(state.pts):
        row = state.pts[p]
        ent = ", ".join(f"[{idx}] {text}" for idx, text in row.entries.items()) or "(empty)"
        mark = any(entry_key(p, idx) in changed for idx in row.entries)
        ent_cell = (f'<td class="spf-changed">◆ {html.escape(ent)}</td>' if mark
                    else f"<td>{html.escape(ent)}</td>")
        prow.append(f"<tr><th>pt{p}</th>{_cell(state, pt_key(p), changed)}{ent_cell}</tr>")
    pt_t = _table("Page-table pages", ["", "level, life", "entries"], prow)

    locks = [*state.locks, *(ptl_key(p) for p in sorted(state.pts)
                             if state.pts[p].ptl is not None)]
    lrow = [f"<tr><th>{html.escape(k)}</th>{_cell(state, k, changed)}</tr>" for k in locks]
    lock_t = _table("Locks (holder)", ["lock", "held by"], lrow)

    crow = [f"<tr><th>cpu{c}</th>{_cell(state, f'cpu{c}', changed)}</tr>"
            for c in sorted(state.cpus)]
    crow.append(f"<tr><th>RCU readers</th>{_cell(state, 'rcu_readers', changed)}</tr>")
    cpu_t = _table("CPUs: IRQs, pending IPIs; RCU", ["", "state"], crow)

    other = [*(f"page{n}" for n in sorted(state.pages)), *(f"pol{n}" for n in
                                                            sorted(state.policies)),
             *(f"swap{n}" for n in sorted(state.swap))]
    orow = [f"<tr><th>{k}</th>{_cell(state, k, changed)}</tr>" for k in other]
    page_t = _table("Pages, swap, policies", ["", "state"], orow)
    return (f'{CSS}<div class="spf-state"><div class="spf-wide">{vma_t}</div>'
            f"{pt_t}{lock_t}{cpu_t}{page_t}</div>")
