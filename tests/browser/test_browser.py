"""The browser-test machinery works end to end (tests/browser/): JupyterLab serves a copy of
a small notebook, headless Chromium runs it, an ipywidgets Button renders, a real click goes
through the comm to the Python callback, and the Label's new value comes back into the DOM."""

from __future__ import annotations

import nbformat
import pytest

from tests.paths import FIXTURES

FIXTURE = FIXTURES / "browser-smoke.ipynb"


def test_fixture_committed_without_outputs() -> None:
    """The helper runs a copy; the committed fixture stays stripped, like notebooks/."""
    nb = nbformat.read(FIXTURE, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None


@pytest.mark.browser
# JupyterLab takes 20-60 s to serve on a loaded 2-core machine, the kernel as long again.
@pytest.mark.timeout(420)
def test_button_click_reaches_python_and_back(lab_notebook) -> None:
    committed = FIXTURE.read_bytes()
    nb = lab_notebook(FIXTURE)
    page = nb.page
    button = page.get_by_role("button", name="Press me")
    label = page.locator(".jp-OutputArea-output .widget-label")
    nb.wait_for_text("Press me", button)  # the widget's view was made: the JS half loaded
    assert nb.text_of(label) == "not pressed yet"
    nb.screenshot("browser-smoke-before", page.locator(".jp-Notebook"))

    ms = nb.round_trip_ms(button, """() => {
        const l = document.querySelector('.jp-OutputArea-output .widget-label');
        return l !== null && l.textContent === 'pressed 1 time(s)';
    }""")
    assert nb.text_of(label) == "pressed 1 time(s)"
    print(f"click -> label round trip: {ms:.1f} ms (in the page)")

    ms2 = nb.round_trip_ms(button, lambda: nb.wait_for_text("pressed 2 time(s)", label))
    print(f"click -> label round trip: {ms2:.1f} ms (from the test: driver and expect's polling "
          "included)")

    path = nb.screenshot("browser-smoke")
    assert path.stat().st_size > 0
    assert nb.errors() == []
    assert nb.path != FIXTURE.resolve() and nb.path.parent != FIXTURE.parent

    # The error collection itself sees errors (an empty list must mean something): a cell that
    # raises, typed into the notebook as a user would, and an error in the browser console.
    page.locator(".jp-CodeCell").last.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.type("1/0")
    page.keyboard.press("Shift+Enter")
    nb.wait_for_text("ZeroDivisionError", page.locator(".jp-OutputArea-output").last)
    page.evaluate("console.error('spfteach: a console error on purpose')")
    nb.screenshot("browser-smoke-error")
    errors = nb.errors()
    assert len(errors) == 2, errors
    assert "Traceback" in errors[0] and "ZeroDivisionError" in errors[0]
    assert errors[1] == "console error: spfteach: a console error on purpose"
    assert FIXTURE.read_bytes() == committed, "the committed fixture was run in place"


def test_missing_chromium_fails_saying_make_setup(monkeypatch) -> None:
    """No Chromium is a failure that says what to do, never a skip."""
    from tests import browser

    monkeypatch.setattr(browser.os, "access", lambda *_: False)
    monkeypatch.setattr(browser.shutil, "which", lambda _: None)
    with pytest.raises(pytest.fail.Exception, match=r"run `make setup`"):
        browser.chromium_path()
