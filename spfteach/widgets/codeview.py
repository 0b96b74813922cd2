"""The C panel of a thread: one real kernel function, the line it runs next marked.

Why ``anywidget`` and not an ``ipywidgets.HTML`` string: on every step only the
marked line moves, and most steps stay in the same function.  An HTML widget
would re-send the whole function (hundreds of lines) and the browser would
re-lay it out, losing the panel's scroll position each time; here the function's
lines are sent once (``lines`` changes only when the thread enters another
function) and a step sends one integer (``current``), which the front end uses
to move the mark and scroll the panel — only the panel, never the notebook —
so the line stays in view.

The mark is never colour alone: the line also gets a ``▶`` in the gutter and
``aria-current``; the panel is a labelled, keyboard-focusable region.
"""

from __future__ import annotations

import anywidget
import traitlets

_ESM = r"""
function render({ model, el }) {
  el.classList.add("spf-code");
  const head = document.createElement("div");
  head.className = "spf-code-head";
  const pre = document.createElement("pre");
  pre.className = "spf-code-body";
  pre.tabIndex = 0;
  pre.setAttribute("role", "region");
  const foot = document.createElement("div");
  foot.className = "spf-code-foot";
  el.append(head, pre, foot);
  let rows = new Map();

  function draw() {
    pre.textContent = "";
    rows = new Map();
    const first = model.get("first_line");
    model.get("lines").forEach((text, i) => {
      const row = document.createElement("div");
      row.className = "spf-line";
      const no = first + i;
      const mark = document.createElement("span");
      mark.className = "spf-mark";
      mark.textContent = " ";
      const gut = document.createElement("span");
      gut.className = "spf-no";
      gut.textContent = String(no).padStart(5, " ") + " ";
      const code = document.createElement("span");
      code.className = "spf-src";
      code.textContent = text;
      row.append(mark, gut, code);
      pre.appendChild(row);
      rows.set(no, row);
    });
    mark();
  }

  function mark() {
    head.textContent = model.get("title");
    pre.setAttribute("aria-label", model.get("title"));
    foot.textContent = model.get("note");
    for (const row of pre.querySelectorAll(".spf-current")) {
      row.classList.remove("spf-current");
      row.removeAttribute("aria-current");
      row.firstChild.textContent = " ";
    }
    const row = rows.get(model.get("current"));
    if (!row) return;
    row.classList.add("spf-current");
    row.setAttribute("aria-current", "step");
    row.firstChild.textContent = model.get("mark");
    reveal();
  }

  // Scroll the panel only (scrollIntoView would scroll the notebook too).  A view made
  // before it is on the page has no size yet: the observer reveals the line once it has.
  function reveal() {
    const row = pre.querySelector(".spf-current");
    if (!row || pre.clientHeight === 0) return;
    const top = row.offsetTop - pre.offsetTop;
    if (top < pre.scrollTop || top > pre.scrollTop + pre.clientHeight - row.offsetHeight) {
      pre.scrollTop = Math.max(0, top - pre.clientHeight / 3);
    }
  }
  const sized = new ResizeObserver(() => reveal());
  sized.observe(pre);

  model.on("change:lines", draw);
  model.on("change:first_line", draw);
  model.on("change:current", mark);
  model.on("change:title", mark);
  model.on("change:note", mark);
  model.on("change:mark", mark);
  draw();
  return () => sized.disconnect();
}
export default { render };
"""

_CSS = """
.spf-code { font-family: var(--jp-code-font-family, monospace); min-width: 0; }
.spf-code-head { font-weight: bold; padding: 2px 4px; background: #eef1f5;
  border: 1px solid #c8ced6; border-bottom: none; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.spf-code-body { margin: 0; height: 22em; overflow: auto; border: 1px solid #c8ced6;
  font-size: 12px; line-height: 1.35; background: #fcfcfc; }
.spf-code-body:focus { outline: 2px solid #3b73b9; }
.spf-line { white-space: pre; }
.spf-no { color: #7a8591; user-select: none; }
.spf-mark { display: inline-block; width: 1.2em; color: #b00020; font-weight: bold; }
.spf-current { background: #ffe9a8; font-weight: bold; }
.spf-code-foot { font-size: 12px; padding: 2px 4px; border: 1px solid #c8ced6;
  border-top: none; background: #f6f7f9; white-space: pre-wrap; }
"""


class CodeView(anywidget.AnyWidget):
    """A C function's text (``lines`` from ``first_line``), ``current`` marked."""

    _esm = _ESM
    _css = _CSS
    title = traitlets.Unicode("").tag(sync=True)
    lines = traitlets.List(traitlets.Unicode(), default_value=[]).tag(sync=True)
    first_line = traitlets.Int(1).tag(sync=True)
    #: the marked line's number in the file (0: none marked)
    current = traitlets.Int(0).tag(sync=True)
    #: a line under the panel: what the marked line is ("next to run", "finished")
    note = traitlets.Unicode("").tag(sync=True)
    #: the gutter glyph of the marked line: ▶ runs next or ran last, ✖ broke an invariant
    mark = traitlets.Unicode("▶").tag(sync=True)

    def show(self, title: str, lines: list[str], first_line: int, current: int,
             note: str, mark: str = "▶") -> None:
        """Point the panel at a function and line, sending only what changed."""
        with self.hold_sync():
            if self.lines != lines or self.first_line != first_line:
                self.lines = lines
                self.first_line = first_line
            self.title = title
            self.current = current
            self.note = note
            self.mark = mark

    @property
    def marked_text(self) -> str:
        """The marked line's text ("" when none is marked)."""
        i = self.current - self.first_line
        return self.lines[i] if self.current and 0 <= i < len(self.lines) else ""
