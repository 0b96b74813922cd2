"""Every guided notebook (notebooks/0*.ipynb) in a real browser: one JupyterLab and one
headless Chromium for all of them (the `lab_session` fixture), each notebook a copy, Run All,
then no error output, no browser console error, and each widget the notebook shows rendered —
per cell, against what its source says it shows (tests/notebooks/'s widget_cells, which
the nbgrader test there checks against the cells that print a widget's one-line form).

A screenshot per notebook goes to test-artifacts/browser/notebook-<name>.png. The last test
runs a deliberately broken copy to show that each of these checks can fail.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

from tests.notebooks.test_notebooks import GUIDED, widget_cells

pytestmark = pytest.mark.browser

# How long the widget views may take to render once Run All is done (the JavaScript half
# builds each view from its model after the kernel sent it).
RENDER_TIMEOUT = 60.0

# Per code cell, what the page shows of its widgets:
# - views: outputs holding a rendered ipywidgets view (the manager's WidgetRenderer puts the
#   view, a `.jupyter-widgets` element, inside the output node once it is made) with a size;
# - placeholders: outputs still, or instead, showing the manager's text ("Loading widget...",
#   "Error displaying widget", "... model not found");
# - prompt: the input prompt, "[n]:" once the cell ran.
WIDGETS_JS = r"""() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')].map(cell => {
    const outputs = [...cell.querySelectorAll('.jp-OutputArea-output')];
    const views = outputs.filter(o => [...o.children].some(c =>
        c.classList.contains('jupyter-widgets') && c.getBoundingClientRect().height > 0));
    const placeholders = outputs.map(o => o.textContent.trim()).filter(t =>
        t.startsWith('Loading widget') || t.includes('Error displaying widget')
        || t.includes('model not found'));
    return {views: views.length, placeholders,
            prompt: (cell.querySelector('.jp-InputPrompt') || {}).textContent || ''};
})"""


def _wait_rendered(nb, expected: int, timeout: float) -> None:
    """Until `expected` widget views are rendered and no placeholder is left, or the time is
    up (then the checks below say what is missing)."""
    try:
        nb.page.wait_for_function(
            f"""(expected) => {{ const cells = ({WIDGETS_JS})();
                return cells.reduce((n, c) => n + c.views, 0) >= expected
                    && cells.every(c => c.placeholders.length === 0); }}""",
            arg=expected, timeout=timeout * 1000, polling=200)
    except Exception:  # noqa: BLE001 - reported by problems() with the details
        pass


def problems(nb, notebook: nbformat.NotebookNode,
             render_timeout: float = RENDER_TIMEOUT) -> list[str]:
    """Everything wrong with the notebook as the page shows it after Run All: a code cell that
    did not run, a cell whose rendered widget views are not the one its source shows (or any
    when it shows none), a widget placeholder left, then nb.errors() (error outputs, page
    errors, console errors)."""
    code = [c for c in notebook.cells if c.cell_type == "code"]
    shows = set(widget_cells(notebook))
    _wait_rendered(nb, len(shows), render_timeout)
    cells = nb.page.evaluate(WIDGETS_JS)
    found: list[str] = []
    if len(cells) != len(code):
        found.append(f"the page shows {len(cells)} code cells, the notebook has {len(code)}")
    for k, (cell, dom) in enumerate(zip(code, cells, strict=False)):
        first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
        if cell.source.strip() and not any(ch.isdigit() for ch in dom["prompt"]):
            found.append(f"code cell {k} did not run (prompt {dom['prompt']!r}): {first}")
        want = 1 if k in shows else 0
        if dom["views"] != want:
            found.append(f"code cell {k}: {dom['views']} widget view(s) rendered, {want} "
                         f"expected: {first}")
        found += [f"code cell {k}: widget placeholder {t[:80]!r}" for t in dom["placeholders"]]
    return found + nb.errors()


@pytest.mark.timeout(300)  # the first also starts the server and the browser (10-60 s)
@pytest.mark.parametrize("path", GUIDED, ids=lambda p: p.name)
def test_guided_notebook_runs_in_jupyterlab(lab_session, path: Path) -> None:
    committed = path.read_bytes()
    notebook = nbformat.read(path, as_version=4)
    shows = widget_cells(notebook)
    later = GUIDED[GUIDED.index(path) + 1:]
    t0 = time.monotonic()
    with lab_session.open(path, then=later[0] if later else None) as nb:
        ran = time.monotonic() - t0
        found = problems(nb, notebook)
        views = sum(c["views"] for c in nb.page.evaluate(WIDGETS_JS))
        # the first widget in view for the screenshot (JupyterLab scrolls inside the panel)
        if shows:
            nb.page.locator(".jp-Notebook .jp-CodeCell").nth(shows[0]).scroll_into_view_if_needed()
        shot = nb.screenshot(f"notebook-{path.stem}")
    print(f"{path.name}: Run All done in {ran:.1f} s, {views} widget view(s) rendered of "
          f"{len(shows)} expected; screenshot {shot}")
    assert found == [], "\n".join(found)
    assert views == len(shows)
    assert path.read_bytes() == committed, "the committed notebook was run in place"


@pytest.mark.timeout(300)
def test_broken_copy_fails_each_check(lab_session, tmp_path: Path) -> None:
    """The checks above can fail: a copy of a guided notebook with a widget view whose model
    does not exist (a placeholder and a console error) and, before its second widget cell, a
    cell that raises (an error output, then cells that never ran and a widget never shown)."""
    path = next(p for p in GUIDED if len(widget_cells(nbformat.read(p, as_version=4))) >= 2)
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    first, second = widget_cells(notebook)[:2]
    fake_view = nbformat.v4.new_code_cell(
        "from IPython.display import display\n"
        "display({'application/vnd.jupyter.widget-view+json': {'model_id': 'no-such-model', "
        "'version_major': 2, 'version_minor': 0}}, raw=True)")
    raises = nbformat.v4.new_code_cell("raise RuntimeError('broken on purpose')")
    at = notebook.cells.index(code[second])
    notebook.cells[at:at] = [fake_view, raises]
    broken = tmp_path / f"broken-{path.name}"
    nbformat.write(notebook, broken)
    assert widget_cells(notebook) == [first, second + 2, *widget_cells(notebook)[2:]]

    with lab_session.open(broken) as nb:
        found = problems(nb, notebook, render_timeout=10)
        nb.page.locator(".jp-Notebook .jp-CodeCell").nth(second + 1).scroll_into_view_if_needed()
        nb.screenshot(f"notebook-broken-{path.stem}")
    text = "\n".join(found)
    print(text)
    # the raise: an error output, and the cells after it never ran
    assert any("Traceback" in f and "broken on purpose" in f for f in found), text
    assert f"code cell {second + 2} did not run" in text
    # the widget cell after it: its view missing
    assert f"code cell {second + 2}: 0 widget view(s) rendered, 1 expected" in text
    # the view of no model: its placeholder, and the manager's console error
    assert f"code cell {second}: widget placeholder" in text
    assert any(f.startswith("console error:") for f in found), text
    # and the widget before it all is rendered: nothing is reported about it
    assert not [f for f in found if f.startswith(f"code cell {first}:")], text


@pytest.mark.timeout(300)
def test_after_spf_steps_the_same_race_on_both_trees(lab_session, tmp_path: Path) -> None:
    """Notebook 08's two steppers (its own cells, in a copy that holds only them): three steps
    of the fault in each, and each C panel marks the line the model says, the first from the
    patched 6.1 tree, the second from 6.12 (`mas_walk()` found the VMA in both)."""
    from spfteach.scenarios import get
    from spfteach.widgets import RaceStepper

    path = next(p for p in GUIDED if p.name == "08-after-spf.ipynb")
    notebook = nbformat.read(path, as_version=4)
    steppers = [c for c in notebook.cells if c.cell_type == "code" and "RaceStepper(" in c.source]
    assert len(steppers) == 2, [c.source for c in steppers]
    notebook.cells = steppers
    copy = tmp_path / "after-spf-steppers.ipynb"
    nbformat.write(notebook, copy)
    with lab_session.open(copy) as nb:
        page = nb.page
        page.set_viewport_size({"width": 1400, "height": 2600})
        cells = page.locator(".jp-Notebook .jp-CodeCell")
        for k, (design, tree) in enumerate([("spf", "patched 6.1"), ("per-vma", "6.12")]):
            out = cells.nth(k).locator(".jp-OutputArea")
            step0 = out.get_by_role("button", name="Step T0")
            nb.wait_for_text("Step T0", step0)
            for n in range(3):
                step0.click()
                nb.wait_for_text(f"{n + 1} step" + ("s" if n else ""), out)
            expect = RaceStepper(get("fault-vs-munmap").with_design(design), schedule="0*3")
            marked = out.locator(".spf-code").first.locator(".spf-current .spf-src")
            nb.wait_for_text(expect.current_line(0), marked)
            assert nb.text_of(marked).strip() == expect.current_line(0)
            nb.wait_for_text(f"({tree})", out)
            out.scroll_into_view_if_needed()
            shot = nb.screenshot(f"notebook-08-stepper-{design}", out)
            print(f"{design}: T0 at {expect.current_line(0)!r} ({tree}); screenshot {shot}")
        assert nb.errors() == []
