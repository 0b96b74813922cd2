"""ExplorerPanel: pick a mutant, explore every schedule of a scenario, and load any
counterexample into a RaceStepper to step through it yourself.

The explorer is :func:`explore.search.explore`; its ``progress`` callback feeds
the bar (the number of states is not known before the search ends, so the bar's
end is the unmutated scenario's count, which the label says, and grows if the
mutant reaches more).
"""

from __future__ import annotations

import html

import ipywidgets as W

from .. import resources
from ..explore.search import Report, explore
from ..model import checks
from ..scenarios import get as get_scenario
from ..scenarios.base import Scenario
from ..sched import format_schedule
from ..viz.statepanel import CSS
from ._base import Shown
from .safe import guarded
from .stepper import RaceStepper

NO_MUTANT = "(none: the port as it is)"


class ExplorerPanel(Shown):
    """``ExplorerPanel("fault-vs-munmap")``; ``.explore(mutant)``, ``.load(i)``."""

    def __init__(self, scenario: str | Scenario, mutant: str | None = None) -> None:
        self.scenario = scenario if isinstance(scenario, Scenario) else get_scenario(scenario)
        self.mutant = checks.mutant(mutant).name if mutant else None
        self.report: Report | None = None
        self.stepper: RaceStepper | None = None
        self._expected: int | None = None
        self._widget: W.VBox | None = None

    # --- the Python API ---------------------------------------------------------

    def explore(self, mutant: str | None = None) -> Report:
        """Explore the scenario under ``mutant`` (None: the port as it is)."""
        self.mutant = checks.mutant(mutant).name if mutant else None
        if self._widget is not None:
            self.progress.value = 0
            self.progress.max = max(self._expected_states(), 1)
            self.progress.bar_style = "info"
        rep = explore(self.scenario, [self.mutant] if self.mutant else [],
                      progress=self._progress)
        self.report = rep
        self._refresh()
        return rep

    @property
    def counterexamples(self) -> list:
        return [] if self.report is None else \
            [self.report.counterexamples[k] for k in sorted(self.report.counterexamples)]

    def load(self, i: int) -> RaceStepper:
        """Counterexample ``i`` in a RaceStepper, replayed to its last step."""
        cx = self.counterexamples[i]
        self.stepper = RaceStepper(self.scenario, self.mutant, cx.schedule)
        if self._widget is not None:
            self.slot.children = [self._lanes(self.stepper), self.stepper.widget]
        return self.stepper

    def _lanes(self, stepper: RaceStepper) -> W.Image:
        """The counterexample at a glance: its swim-lanes, the violating step marked."""
        from ..viz.counterexample import counterexample_figure
        from ..viz.render import to_png

        v = stepper.session.violation
        if v is None:  # the replay broke nothing: the explorer and the stepper disagree
            raise RuntimeError(f"the counterexample {format_schedule(stepper.schedule)} broke "
                               "nothing when replayed")
        png = to_png(counterexample_figure(self.scenario.name, v, stepper.session.mutants))
        return W.Image(value=png, format="png", layout=W.Layout(max_width="100%"))

    def _expected_states(self) -> int:
        """The unmutated scenario's state count, as ``make bench`` last recorded it
        in spfteach/data/mutants.json (0 when unknown: the bar then grows as it goes)."""
        if self._expected is None:
            try:
                data = resources.read_json("mutants.json")
                self._expected = int(data["scenarios"][self.scenario.name]["states"])
            except (OSError, ValueError, KeyError, TypeError):
                self._expected = 0
        return self._expected

    def _progress(self, states: int) -> None:
        if self._widget is None:
            return
        if states >= self.progress.max:
            self.progress.max = states * 2
        self.progress.value = states
        self.progress_label.value = f"{states} states explored"

    # --- display ------------------------------------------------------------------

    def __repr__(self) -> str:
        what = "not explored yet" if self.report is None else \
            (f"{self.report.states} states, {len(self.report.counterexamples)} violation(s)")
        return f"ExplorerPanel({self.scenario.name}, mutant {self.mutant or 'none'}): {what}"

    def _build(self) -> None:
        guard = guarded(self._show_error)
        options = [(NO_MUTANT, "")] + [(f"{n} — {checks.mutant(n).describe()}", n)
                                       for n in checks.MUTANTS]
        self.choice = W.Dropdown(options=options, value=self.mutant or "",
                                 description="Mutant:", layout=W.Layout(width="640px"),
                                 tooltip="The check to switch off before exploring")
        self.explore_button = W.Button(description="Explore", button_style="primary",
                                       icon="search",
                                       tooltip="Run every schedule of the scenario (states "
                                       "already seen are not explored twice)")
        self.progress = W.IntProgress(value=0, min=0, max=1, description="Progress:")
        self.progress_label = W.Label("")
        self.error = W.HTML()
        self.summary = W.HTML()
        self.rows = W.VBox()
        self.slot = W.VBox()

        def go(_b: object) -> None:
            self.error.value = ""
            self.explore(self.choice.value or None)

        self.explore_button.on_click(guard(go))
        self._widget = W.VBox([W.HTML(CSS), W.HTML(
            f"<b>Explorer</b>: {html.escape(self.scenario.name)} — "
            f"{html.escape(self.scenario.title)}"), W.HBox([self.choice, self.explore_button]),
            W.HBox([self.progress, self.progress_label]), self.error, self.summary, self.rows,
            self.slot])

    def _refresh(self) -> None:
        if self._widget is None:
            return
        rep = self.report
        if rep is None:
            self.summary.value = "<p>Pick a mutant (or none) and press <i>Explore</i>.</p>"
            self.rows.children = []
            return
        self.progress.value = self.progress.max = max(rep.states, 1)
        self.progress.bar_style = "danger" if rep.counterexamples else "success"
        self.progress_label.value = f"{rep.states} states explored"
        verdict = (f"<b>{len(rep.counterexamples)} invariant(s) broken</b>"
                   if rep.counterexamples else "<b>no invariant broken</b> in any schedule")
        partial = "" if rep.complete else " (stopped by the budget: not every state)"
        self.summary.value = (
            f"<p>{verdict}{partial} — {rep.states} distinct states, {rep.executions} "
            f"complete executions, {rep.pruned} paths cut at a state seen before, "
            f"{rep.seconds:.2f} s.</p>")
        guard = guarded(self._show_error)
        rows = []
        for i, cx in enumerate(self.counterexamples):
            b = W.Button(description="Load into stepper",
                         tooltip=f"Step through the {cx.invariant} counterexample yourself")
            b.on_click(guard(lambda _b, i=i: self.load(i)))
            text = W.HTML(f"<b>{html.escape(cx.invariant)}</b>: {html.escape(cx.message)}"
                          f"<br><code>{format_schedule(cx.schedule)}</code> "
                          f"({len(cx.schedule)} steps)")
            rows.append(W.HBox([b, text]))
        self.rows.children = rows
