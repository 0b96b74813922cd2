"""RaceStepper: you are the scheduler (The Deadlock Empire's habit, on our kernel C).

One column per thread: *Step* and *Run to end* buttons (disabled, with the
reason, when the thread cannot move), and the real C function it is in, from our
patched 6.1 tree, with the line it runs next marked.  Above: Undo, Reset, a box
for a schedule to replay, the schedule so far; the verdict banner (with a
mutant on: the goal, and when you have won).  Below: the shared state, what the
last step changed marked.

The logic is :class:`~spfteach.session.Session`; this module only draws
it.  The widgets are built on first display, so under nbgrader (text mode) the
object is plain Python and prints one line.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable

import ipywidgets as W

from ..csource.excerpts import locate as locate_c
from ..model import checks
from ..model.task import Src
from ..scenarios.base import Scenario
from ..sched import Step
from ..session import Session, ThreadStatus
from ..viz.statepanel import CSS, state_html
from ._base import Shown
from .codeview import CodeView
from .safe import error_html, guarded


class RaceStepper(Shown):
    """Step a scenario's threads yourself: ``RaceStepper("fault-vs-munmap")``;
    ``design="per-vma"``: the same race on 6.12's per-VMA locks (the C panel shows 6.12).

    Python API (what the buttons call): ``.step(tid)``, ``.run_to_end(tid)``,
    ``.undo()``, ``.reset()``, ``.replay("0*23,1*15,0*3")``, ``.schedule``,
    ``.verdict`` (None, or the broken invariant as text), ``.current_line(tid)``.
    """

    def __init__(self, scenario: str | Scenario, mutant: str | None = None,
                 schedule: str | Iterable[int] | None = None, design: str | None = None) -> None:
        self.session = Session(scenario, mutant, schedule, design)
        self._listeners: list[Callable[[RaceStepper], None]] = []
        self._widget: W.VBox | None = None
        self._error = ""

    # --- the Python API ---------------------------------------------------------

    def step(self, tid: int) -> Step:
        s = self.session.step(tid)
        self._changed()
        return s

    def run_to_end(self, tid: int) -> list[Step]:
        steps = self.session.run_to_end(tid)
        self._changed()
        return steps

    def undo(self) -> None:
        self.session.undo()
        self._changed()

    def reset(self) -> None:
        self.session.reset()
        self._changed()

    def replay(self, spec: str | Iterable[int]) -> None:
        self.session.replay(spec)
        self._changed()

    @property
    def run(self):  # noqa: ANN201 - a sched.Run
        return self.session.run

    @property
    def schedule(self) -> list[int]:
        return self.session.schedule

    @property
    def schedule_text(self) -> str:
        """The schedule so far, compressed (``0*31,1*15``): paste it into ``replay``."""
        return self.session.schedule_text

    @property
    def verdict(self) -> str | None:
        return self.session.verdict

    @property
    def won(self) -> bool:
        """With a mutant on: the student's schedule broke an invariant."""
        return bool(self.session.mutants) and self.session.violation is not None

    def current_line(self, tid: int) -> str:
        """The C line marked in thread ``tid``'s panel (stripped), "" when none."""
        src = self.session.status(tid).src
        if src is None:
            return ""
        ex, line = locate_c(src)
        return ex.text_at(line).strip()

    def on_change(self, fn: Callable[[RaceStepper], None]) -> None:
        """Call ``fn(self)`` after every change (a SeqcountTimeline follows this)."""
        self._listeners.append(fn)

    # --- display ------------------------------------------------------------------

    def __repr__(self) -> str:
        sess = self.session
        mut = f", mutant {sess.mutants[0].name}" if sess.mutants else ""
        verdict = f", {sess.verdict}" if sess.verdict else ""
        return (f"RaceStepper({sess.scenario.name}{mut}): {len(sess.schedule)} steps, "
                f"schedule {sess.schedule_text or '(none)'}{verdict}")

    def _build(self) -> None:
        sess = self.session
        guard = guarded(self._show_error)
        scen = sess.scenario
        mut = sess.mutants[0] if sess.mutants else None
        title = f"<b>{html.escape(scen.name)}</b>: {html.escape(scen.title)}"
        if isinstance(mut, checks.Check):
            title += (f" — mutant <code>{html.escape(mut.name)}</code> on: "
                      f"{html.escape(mut.function)}() without <code style='white-space:nowrap'>"
                      f"{html.escape(mut.snippet)}</code>")
        elif mut is not None:
            title += (f" — mutant <code>{html.escape(mut.name)}</code> on: "
                      f"{html.escape(mut.describe())}")
        self.title = W.HTML(title)
        self.banner = W.HTML()
        self.error = W.HTML()
        self.undo_button = W.Button(description="Undo", icon="undo",
                                    tooltip="Back one step (replays the schedule without "
                                    "its last step)")
        self.reset_button = W.Button(description="Reset", icon="refresh",
                                     tooltip="Back to the start of the scenario")
        self.schedule_box = W.Text(placeholder="e.g. 0*23,1*15,0*3", description="Schedule:",
                                   tooltip="Thread ids separated by commas; N*K = K steps of "
                                   "thread N, N* = until it stops")
        self.replay_button = W.Button(description="Replay", icon="play",
                                      tooltip="Start again and follow the schedule typed "
                                      "in the box")
        self.schedule_label = W.HTML()
        self.undo_button.on_click(guard(lambda _b: self.undo()))
        self.reset_button.on_click(guard(lambda _b: self.reset()))
        self.replay_button.on_click(guard(lambda _b: self.replay(self.schedule_box.value)))
        bar = W.HBox([self.undo_button, self.reset_button, self.schedule_box,
                      self.replay_button])
        self.step_buttons: list[W.Button] = []
        self.end_buttons: list[W.Button] = []
        self.reasons: list[W.HTML] = []
        self.code: list[CodeView] = []
        cols = []
        for t in sess.run.tasks:
            step = W.Button(description=f"Step T{t.tid}", button_style="primary",
                            tooltip=f"Run one step of thread T{t.tid} ({t.name})")
            end = W.Button(description=f"Run T{t.tid} to end",
                           tooltip=f"Step T{t.tid} until it finishes or blocks")
            step.on_click(guard(lambda _b, tid=t.tid: self.step(tid)))
            end.on_click(guard(lambda _b, tid=t.tid: self.run_to_end(tid)))
            reason = W.HTML()
            code = CodeView(layout=W.Layout(width="100%"))
            head = W.HTML(f"<b>T{t.tid}</b> {html.escape(t.name)} "
                          f"<span style='color:#555'>(CPU{t.cpu})</span>"
                          + (f"<br><small>{html.escape(scen.threads[t.tid])}</small>"
                             if t.tid < len(scen.threads) else ""))
            cols.append(W.VBox([head, W.HBox([step, end]), reason, code],
                               layout=W.Layout(flex="1 1 0", min_width="360px",
                                               margin="0 6px 0 0")))
            self.step_buttons.append(step)
            self.end_buttons.append(end)
            self.reasons.append(reason)
            self.code.append(code)
        self.state = W.HTML()
        self._widget = W.VBox([W.HTML(CSS), self.title, self.banner, bar, self.schedule_label,
                               self.error, W.HBox(cols, layout=W.Layout(flex_flow="row wrap")),
                               self.state])

    def _changed(self) -> None:
        self._error = ""
        if self._widget is not None:
            self._refresh()
        for fn in self._listeners:
            fn(self)

    def _refresh(self) -> None:
        sess = self.session
        run = sess.run
        self.error.value = error_html(self._error) if self._error else ""
        n = len(run.schedule)
        self.schedule_label.value = (f"<b>{n}</b> step{'s' if n != 1 else ''} taken; "
                                     f"schedule so far: <code>{sess.schedule_text or '—'}"
                                     "</code>")
        self.undo_button.disabled = n == 0
        for t in run.tasks:
            st = sess.status(t.tid)
            can = st.state == "runnable"
            self.step_buttons[t.tid].disabled = not can
            self.end_buttons[t.tid].disabled = not can
            why = "" if can else st.reason
            self.step_buttons[t.tid].tooltip = (f"Run one step of thread T{t.tid}" if can
                                                else f"T{t.tid} cannot step: {why}")
            icon = {"runnable": "▶ runnable", "blocked": "‖ ", "finished": "■ ",
                    "broke": "✖ "}[st.state]
            self.reasons[t.tid].value = html.escape(icon + ("" if can else st.reason))
            self._show_code(t.tid, st)
        last = run.trace[-1] if run.trace else None
        changed = {k for k, _, _ in last.changes} if last else set()
        state = last.state if last else run.initial_state
        self.state.value = state_html(state, changed)
        self.banner.value = self._banner()

    def _show_code(self, tid: int, st: ThreadStatus) -> None:
        src: Src | None = st.src
        view = self.code[tid]
        if src is None:
            view.show(f"T{tid}: no step yet", [], 1, 0, st.reason)
            return
        ex, line = locate_c(src)
        if st.state == "broke":
            note = f"✖ line {line}: {src.snippet}\n{st.reason}"
        else:
            where = "runs next" if st.state != "finished" else "ran last"
            note = f"▶ line {line} {where}: {src.snippet}"
            if st.state != "runnable":
                note += f"\n{st.reason}"
        where_c = "6.12" if src.tree == "6.12" else "patched 6.1"
        view.show(f"{src.function}() — {src.file} ({where_c})", list(ex.lines),
                  ex.first_line, line, note, "✖" if st.state == "broke" else "▶")

    def _banner(self) -> str:
        sess = self.session
        v = sess.violation
        if v is not None:
            if sess.mutants:
                m = sess.mutants[0]
                why = ""
                if isinstance(m, checks.Check):
                    why = (f"<br>The check <code>{html.escape(m.snippet)}</code> in "
                           f"{html.escape(m.function)}() would have stopped it: "
                           f"{html.escape(m.reason)}")
                return (f'<div class="spf-banner spf-won" role="status">✔ You won: '
                        f"<b>{html.escape(v.invariant)}</b> — {html.escape(v.message)} "
                        f"(at step {v.step}, counting from 0 as the traces do){why}</div>")
            return (f'<div class="spf-banner spf-bad" role="alert">✖ Invariant broken: '
                    f"<b>{html.escape(v.invariant)}</b> — {html.escape(v.message)} "
                    f"(at step {v.step}, counting from 0 as the traces do)</div>")
        if sess.over:
            if sess.run.deadlocked:
                return ('<div class="spf-banner spf-bad" role="alert">✖ Deadlock: threads are '
                        "left and none can move</div>")
            tail = " — Undo or Reset and try another order." if sess.mutants else "."
            return (f'<div class="spf-banner spf-done" role="status">■ Every thread finished '
                    f"and no invariant broke{tail}</div>")
        if sess.mutants:
            return (f'<div class="spf-banner spf-goal" role="status">🎯 '
                    f"{html.escape(sess.goal())}</div>")
        return ""
