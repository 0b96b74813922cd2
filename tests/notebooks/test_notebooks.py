"""Notebooks: committed without outputs, and they run top to bottom headless."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import spfteach.widgets
from tests.paths import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# The guided notebooks, one class meeting each (00-start-here ... 08-after-spf): a new one is
# picked up by its name alone.
GUIDED = sorted((ROOT / "notebooks").glob("0*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
NOT_SHOWN = "[interactive widget: not shown under nbgrader]"


def widget_cells(nb: nbformat.NotebookNode) -> list[int]:
    """Indexes, among the code cells, of those that display one of our widgets, read from
    their source: the cell's last statement is an expression that is a call of a widget class
    (spfteach.widgets.__all__) or a name whose latest top-level binding, in this cell or an
    earlier one, is such a call. Each such cell shows exactly one widget view.

    tests/browser/test_browser_notebooks.py counts the views rendered in JupyterLab against it;
    test_guided_notebook_under_nbgrader_is_text_only checks that it names exactly the cells
    that print the one-line text form, so the derivation itself is tested.
    """
    classes = set(spfteach.widgets.__all__)

    def is_widget_call(node: ast.AST | None) -> bool:
        if not isinstance(node, ast.Call):
            return False
        f = node.func
        return (isinstance(f, ast.Name) and f.id in classes) or (
            isinstance(f, ast.Attribute) and f.attr in classes)

    bound: dict[str, bool] = {}  # name -> its latest binding is a widget
    shows: list[int] = []
    code = [c for c in nb.cells if c.cell_type == "code"]
    for k, cell in enumerate(code):
        body = ast.parse(cell.source).body
        for stmt in body:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for t in targets:
                    if isinstance(t, ast.Name):
                        bound[t.id] = is_widget_call(stmt.value)
        last = body[-1] if body else None
        if isinstance(last, ast.Expr) and (
                is_widget_call(last.value)
                or (isinstance(last.value, ast.Name) and bound.get(last.value.id, False))):
            shows.append(k)
    return shows


def _run(path: Path) -> nbformat.NotebookNode:
    """The notebook executed headless by nbclient, in its own directory (its data comes from the
    package, spfteach.resources)."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ has no notebook"


#: every notebook a student opens: the guided ones and the course's assignments
EVERY = NOTEBOOKS + sorted((ROOT / "notebooks" / "course" / "source").glob("*/*.ipynb"))


@pytest.mark.parametrize("path", EVERY, ids=lambda p: p.name)
def test_reads_nothing_beside_itself(path: Path) -> None:
    """On a hub a notebook has no checkout around it: its data comes from the package
    (spfteach.resources), never from ../data or ../kernel (issue 26)."""
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert not [w for w in ('Path("..")', "Path('..')", '"../', "'../") if w in code], path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_headless(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)
    if any(c.source.lstrip().startswith("answer_1 = ...") for c in nb.cells):
        # a guided notebook's self-check ran, and with nothing answered says so
        assert "Question 1: not answered yet" in text
    if path.name == "04-speculative-path.ipynb":
        # the tour's two schedules end differently, as the notebook says
        assert "handled speculatively" in text
        assert "speculative path VM_FAULT_RETRY (check maplock_vma_changed)" in text
        svg = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
               if "image/svg+xml" in o.get("data", {})]
        assert svg, "the walk picture was not drawn"
        html = [o["data"]["text/html"] for o in svg if "text/html" in o["data"]]
        assert html and "max-width:100%" in html[0], "the walk picture does not fit the cell"
    if path.name == "widgets.ipynb":
        # every widget cell rendered as a widget, and the Python API cell says the verdict
        views = [c for c in nb.cells if c.cell_type == "code" and any(
            "application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in c.outputs)]
        assert len(views) == 5, [c.source for c in nb.cells if c.cell_type == "code"]
        assert "0*33,1*15,0*3 -> use-after-free: T0 reads entry 0 of freed page table" in text
        assert any("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs), "the VMA map was not drawn"


def test_widgets_notebook_under_nbgrader_is_text_only(monkeypatch) -> None:
    """Under autograde every widget is one line of text: nothing interactive to hang on."""
    path = ROOT / "notebooks" / "widgets.ipynb"
    nb = nbformat.read(path, as_version=4)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")  # the kernel inherits it
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if "application/vnd.jupyter.widget-view+json"
                in o.get("data", {})]
    shown = [o["data"]["text/plain"] for o in outputs if o.output_type == "execute_result"
             and "image/png" not in o["data"]]
    assert len(shown) == 5 and all("\n" not in t and "not shown under nbgrader" in t
                                   for t in shown), shown


@pytest.mark.parametrize("path", GUIDED, ids=lambda p: p.name)
def test_guided_notebook_under_nbgrader_is_text_only(path: Path, monkeypatch) -> None:
    """Each guided notebook under nbgrader's autograde: it runs without an error, nothing in it
    is a widget (only text and pictures), and each cell that would show one of our widgets
    shows its one line instead: exactly the cells widget_cells() reads from the source."""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")  # the kernel inherits it
    nb = _run(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = [o for c in code for o in c.outputs]
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    assert not errors, errors
    assert not [o for o in outputs if WIDGET_VIEW in o.get("data", {})]
    allowed = {"text/plain", "text/html", "text/markdown", "image/png", "image/svg+xml",
               "image/jpeg"}
    other = {m for o in outputs for m in o.get("data", {})} - allowed
    assert not other, f"outputs that are neither text nor a picture: {sorted(other)}"
    text_widgets = [k for k, c in enumerate(code) if any(
        NOT_SHOWN in o.get("data", {}).get("text/plain", "") for o in c.outputs)]
    assert text_widgets == widget_cells(nb), [code[k].source for k in text_widgets]


#: What a guided notebook's kernel runs after the notebook: each question's own answer, then a
#: wrong one, and what each printed.
_ANSWER_EACH = """\
import contextlib, io
from spfteach.drills import selfcheck as _sc
_report = []
for _label, (_exp, _why, _show, _hint) in sorted(_sc._asked.items()):
    _buf = io.StringIO()
    with contextlib.redirect_stdout(_buf):
        _right = _sc.check(_label, _exp, _exp, _why, _show, hint=_hint)
        _sc.check(_label, "certainly not the answer", _exp, _why, _show, hint=_hint)
    _report.append((_label, _right, _buf.getvalue(), str(_show(_exp)), _hint))
print(repr(_report))
"""


@pytest.mark.parametrize("path", GUIDED, ids=lambda p: p.name)
def test_self_checks_take_the_answer_and_hint_before_they_tell(path: Path) -> None:
    """Every question of every guided notebook: its answer is taken ("right"), and a wrong
    one gets its own hint, never the answer."""
    import ast

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(_ANSWER_EACH))
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    report = ast.literal_eval(printed.strip().splitlines()[-1])
    assert len(report) >= 3, path.name
    for label, right, out, shown, hint in report:
        assert right, (path.name, label, out)
        wrong = out.splitlines()[1]
        assert wrong.startswith(f"{label}: not yet. ") and hint and hint in wrong, wrong
        assert "the answer is" not in wrong and (len(shown) < 3 or shown not in wrong), wrong
