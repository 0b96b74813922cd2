"""Real-browser tests of notebooks: JupyterLab on loopback, driven by headless Chromium.

Why a browser at all: nbclient (tests/notebooks/) runs the Python side only. A widget
also has a JavaScript half (the ipywidgets manager in JupyterLab) joined to the kernel by a
comm; only a browser shows that a widget renders, that a click reaches the Python callback, and
that the change comes back into the DOM.

    from tests.browser import lab_notebook

    with lab_notebook(Path("notebooks/widgets.ipynb")) as nb:   # copied, opened, run all
        nb.page.get_by_role("button", name="Step").click()
        nb.wait_for_text("step 1", nb.page.locator(".widget-label"))
        nb.screenshot("after-step")
        assert nb.errors() == []

The pytest fixture `lab_notebook` (tests/conftest.py) does the same and stops it all at the
test's end. For several notebooks, one server and one browser: `lab_session` (the fixture of
the same name lasts a test module), then `with session.open(path) as nb: ...` for each.

Chromium is Debian's (/usr/bin/chromium, installed by scripts/setup.sh), driven by the
`playwright` package; `playwright install` downloads a browser build of its own and cannot
work on our machines, so it is never called.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect, sync_playwright

from tests.paths import ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page, Playwright

ARTIFACTS = ROOT / "test-artifacts" / "browser"
VIEWPORT = {"width": 1400, "height": 1000}

# Generous: on a loaded 2-core machine JupyterLab takes 20-60 s to serve (nbgrader's server
# extension alone imports for several seconds), and the first kernel as long again.
SERVER_START_TIMEOUT = 150.0
KERNEL_IDLE_TIMEOUT = 120.0
RUN_ALL_TIMEOUT = 240.0
STOP_TIMEOUT = 30.0

# --- selectors, checked against JupyterLab 4.6 -------------------------------------------
# The notebook's own toolbar indicator (not the status bar's): one per notebook panel.
KERNEL_INDICATOR = ".jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator"
# The status bar's "Python 3 (ipykernel) | Idle". It and the indicator briefly disagree while a
# cell finishes, so "idle" means both say so.
KERNEL_STATUS_TEXT = '#jp-main-statusbar .jp-StatusBar-TextItem[title^="Change kernel"]'
# Run > Run All Cells. Not the toolbar's item named "runAll": that is nbgrader's Validate.
RUN_MENU = '#jp-MainMenu .lm-MenuBar-item:has(.lm-MenuBar-itemLabel:text-is("Run"))'
RUN_ALL_ITEM = '.lm-Menu-item[data-command="runmenu:run-all"]'
CODE_CELL = ".jp-Notebook .jp-CodeCell"
# An error output renders exactly as stderr text (no class tells them apart), so an error is
# stderr text that looks like IPython's report of one: a traceback, or (a SyntaxError has no
# traceback) its "Cell In[3], line 1" location line.
ERROR_OUTPUT_JS = r"""() => [...document.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
    .map(e => e.textContent)
    .filter(t => t.includes('Traceback') || /^\s*Cell In\[\d+\], line \d+/m.test(t))"""
# Texts the ipywidgets manager puts in the page when a widget's view cannot be made.
WIDGET_ERROR_TEXTS = ("Error displaying widget", "Failed to load model class",
                      "Failed to create view")

# JupyterLab user settings for the test server (its JUPYTER_CONFIG_DIR is a temporary one):
# - every cell attached to the DOM ('none'), so a cell below the fold has its prompt, outputs
#   and widgets in the page to wait on and click ('full'/'defer' detach or delay them);
# - no news or update check: no request leaves loopback, and no toast covers a screenshot.
LAB_SETTINGS: dict[str, dict[str, object]] = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
}


def chromium_path() -> str:
    """Debian's Chromium, or a test failure that says how to get it (never a skip: a browser
    test that silently does not run proves nothing, and `make setup` installs Chromium)."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("chromium not found (/usr/bin/chromium): run `make setup` "
                "(scripts/setup.sh installs the Debian package)", pytrace=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------ the server


@dataclass
class LabServer:
    """A JupyterLab process of our own, in its own process group, and the lines it printed."""

    proc: subprocess.Popen[str]
    url: str  # http://127.0.0.1:PORT
    token: str
    runtime_dir: Path
    lines: list[str] = field(default_factory=list)

    def tail(self, n: int = 40) -> str:
        return "".join(self.lines[-n:]) or "(nothing yet)\n"

    def api(self, method: str, path: str, timeout: float = 10.0) -> object:
        req = urllib.request.Request(self.url + path, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None


def _write_lab_settings(config_dir: Path) -> None:
    for rel, values in LAB_SETTINGS.items():
        path = config_dir / "lab" / "user-settings" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")


@contextlib.contextmanager
def lab_server(root_dir: Path, tmp: Path,
               timeout: float = SERVER_START_TIMEOUT) -> Iterator[LabServer]:
    """JupyterLab on 127.0.0.1 serving root_dir, until the block ends.

    Its runtime, config and IPython dirs are under tmp, so the user's ~/.jupyter (a password,
    a saved workspace, settings) neither changes the test nor is changed by it. The port is
    chosen here and may not move (port_retries=0): a taken port is an error with the server's
    output, not a server on some other port. Stopped with its whole process group; kernels
    (which Jupyter starts in sessions of their own) are shut down through the server first.
    """
    port, token = free_port(), secrets.token_hex(24)
    runtime, config = tmp / "runtime", tmp / "config"
    _write_lab_settings(config)
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(runtime), JUPYTER_CONFIG_DIR=str(config),
               IPYTHONDIR=str(tmp / "ipython"))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--ServerApp.root_dir={root_dir}", f"--IdentityProvider.token={token}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, cwd=root_dir, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    server = LabServer(proc, f"http://127.0.0.1:{port}", token, runtime)

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            server.lines.append(line)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        _wait_served(server, timeout)
        yield server
    finally:
        _stop_server(server)
        thread.join(timeout=10)


def _wait_served(server: LabServer, timeout: float) -> None:
    """Until /api/status answers: the server prints its URL before the port is bound."""
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited early (code {server.proc.returncode}):\n"
                               + server.tail())
        try:
            server.api("GET", "/api/status", timeout=5)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"JupyterLab did not serve {server.url} within {timeout:.0f} s; "
                               "its last output:\n" + server.tail())
        time.sleep(0.3)


def _stop_server(server: LabServer) -> None:
    proc = server.proc
    if proc.poll() is None:
        with contextlib.suppress(Exception):
            kernels = server.api("GET", "/api/kernels")
            for k in kernels if isinstance(kernels, list) else []:
                server.api("DELETE", f"/api/kernels/{k['id']}", timeout=STOP_TIMEOUT)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):  # anything left of its group
        os.killpg(proc.pid, signal.SIGKILL)
    _kill_stray_kernels(server.runtime_dir)


def _kill_stray_kernels(runtime_dir: Path) -> None:
    """Kernels the server failed to shut down: their command line names a connection file in
    our own (unique, temporary) runtime dir, so this can only ever hit our own processes."""
    marker = str(runtime_dir) + os.sep
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        if marker in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)


# ---------------------------------------------------------------------------- the notebook


@dataclass
class LabNotebook:
    """One notebook open in JupyterLab in headless Chromium, with what went wrong so far."""

    page: Page
    server: LabServer
    path: Path  # the temporary copy the server serves
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    # --- waiting -------------------------------------------------------------------------

    def wait_kernel_idle(self, timeout: float = KERNEL_IDLE_TIMEOUT) -> None:
        """Until the notebook's toolbar indicator and the status bar both say Idle: a kernel
        that is starting, restarting or running shows otherwise in one or the other."""
        try:
            self.page.wait_for_function(
                """([indicator, text]) => {
                    const i = document.querySelector(indicator);
                    const t = document.querySelector(text);
                    return i !== null && i.dataset.status === 'idle'
                        && t !== null && /\\|\\s*Idle\\s*$/.test(t.textContent);
                }""",
                arg=[KERNEL_INDICATOR, KERNEL_STATUS_TEXT], timeout=timeout * 1000, polling=100)
        except PlaywrightTimeoutError as e:
            raise TimeoutError(f"kernel not idle within {timeout:.0f} s: {self._state()}\n"
                               f"server:\n{self.server.tail(20)}") from e

    def run_all(self, timeout: float = RUN_ALL_TIMEOUT) -> None:
        """Run > Run All Cells, as a user would, then wait until each code cell with code in it
        has an execution count (or an error stopped the run) and the kernel is idle again.

        Sound because the copy was saved without execution counts: a number in a prompt can
        only come from this run.
        """
        self.wait_kernel_idle()
        self.page.locator(RUN_MENU).click()
        self.page.locator(RUN_ALL_ITEM).click()
        expected = _code_cells_with_source(self.path)
        try:
            self.page.wait_for_function(
                """([cell, indicator, expected]) => {
                    const errorOutputs = """ + ERROR_OUTPUT_JS + """;
                    const cells = [...document.querySelectorAll(cell)];
                    const prompts = cells.map(c =>
                        (c.querySelector('.jp-InputPrompt') || {}).textContent || '');
                    if (prompts.some(p => p.includes('*'))) return false;
                    const i = document.querySelector(indicator);
                    if (i === null || i.dataset.status !== 'idle') return false;
                    const failed = errorOutputs().length > 0;
                    const counted = expected.every(k => /\\[\\d+\\]/.test(prompts[k] || ''));
                    return cells.length > Math.max(-1, ...expected) && (counted || failed);
                }""",
                arg=[CODE_CELL, KERNEL_INDICATOR, expected], timeout=timeout * 1000,
                polling=200)
        except PlaywrightTimeoutError as e:
            raise TimeoutError(f"Run All not finished within {timeout:.0f} s: {self._state()}"
                               ) from e
        self.wait_kernel_idle()

    def wait_for_text(self, text: str, locator: Locator | None = None,
                      timeout: float = 30.0) -> Locator:
        """Until `text` shows: in `locator` if given (its text contains it), else anywhere on
        the page (the first visible element whose text contains it). Returns that locator."""
        target = locator if locator is not None else self.page.get_by_text(text).first
        if locator is None:
            expect(target).to_be_visible(timeout=timeout * 1000)
        else:
            expect(target).to_contain_text(text, timeout=timeout * 1000)
        return target

    def text_of(self, locator: Locator | str) -> str:
        """The rendered text of the first element matched, stripped (a selector or a locator)."""
        loc = self.page.locator(locator) if isinstance(locator, str) else locator
        return loc.first.inner_text().strip()

    # --- what went wrong -----------------------------------------------------------------

    def output_errors(self) -> list[str]:
        """Error outputs (see ERROR_OUTPUT_JS), then the texts ipywidgets shows in place of a
        widget that could not be displayed."""
        errors: list[str] = self.page.evaluate(ERROR_OUTPUT_JS)
        widgets: list[str] = self.page.evaluate(
            """(texts) => [...document.querySelectorAll('.jp-OutputArea-output')]
                .map(e => e.textContent).filter(t => texts.some(w => t.includes(w)))""",
            list(WIDGET_ERROR_TEXTS))
        return errors + widgets

    def errors(self) -> list[str]:
        """Everything a test should find empty: output errors, then uncaught page exceptions,
        then the browser console's errors (a widget's JavaScript half fails there)."""
        return (self.output_errors() + [f"page error: {e}" for e in self.page_errors]
                + [f"console error: {e}" for e in self.console_errors])

    # --- artefacts and timings -----------------------------------------------------------

    def screenshot(self, name: str, locator: Locator | None = None) -> Path:
        """A PNG in test-artifacts/browser/ (kept after the run, for a person or CI to look
        at): the whole page, or just `locator`."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / (re.sub(r"[^A-Za-z0-9._-]+", "_", name) + ".png")
        (locator if locator is not None else self.page).screenshot(path=str(path))
        return path

    def round_trip_ms(self, click_locator: Locator,
                      wait_condition: str | Callable[[], object],
                      timeout: float = 30.0) -> float:
        """Milliseconds from a click to a DOM condition, to report, never to assert tightly
        against (a loaded machine's timings say little about a student's).

        wait_condition as a JavaScript function source (`"() => ..."`, returning true when
        done) is measured inside the page: from the click event's dispatch to the DOM mutation
        that made it true, without the driver's own round trips. As a Python callable that
        blocks until done (say `lambda: nb.wait_for_text("pressed", label)`), it is measured
        from before the click to its return: driver round trips and the callable's own polling
        included (playwright's expect polls after 100, 250, 500 ms...), so coarser.
        """
        if callable(wait_condition):
            t0 = time.perf_counter()
            click_locator.click()
            wait_condition()
            return (time.perf_counter() - t0) * 1000
        # A function source given to evaluate is called: wrap it to get the function itself.
        predicate = self.page.evaluate_handle(f"() => ({wait_condition})")
        armed = self.page.evaluate(
            """(pred) => {
                if (pred()) return false;
                window.__spfteachRoundTrip = new Promise(resolve => {
                    let t0 = null;
                    const observer = new MutationObserver(check);
                    function check() {
                        if (t0 !== null && pred()) {
                            observer.disconnect();
                            resolve(performance.now() - t0);
                        }
                    }
                    window.addEventListener('click', () => { t0 = performance.now(); check(); },
                                            {capture: true, once: true});
                    observer.observe(document.body, {subtree: true, childList: true,
                                                     characterData: true, attributes: true});
                });
                return true;
            }""",
            predicate)
        if not armed:
            raise ValueError(f"condition already true before the click: {wait_condition}")
        click_locator.click()
        return float(self.page.evaluate(
            """(ms) => Promise.race([window.__spfteachRoundTrip, new Promise((_, reject) =>
                   setTimeout(() => reject(new Error(`not true within ${ms} ms`)), ms))])""",
            timeout * 1000))

    def _state(self) -> str:
        """What the page shows of the kernel and the prompts, for a timeout's message."""
        with contextlib.suppress(Exception):
            return str(self.page.evaluate(
                """([indicator, text, cell]) => ({
                    indicator: (document.querySelector(indicator) || {dataset: {}})
                        .dataset.status,
                    statusBar: (document.querySelector(text) || {}).textContent,
                    prompts: [...document.querySelectorAll(cell)].map(c =>
                        (c.querySelector('.jp-InputPrompt') || {}).textContent),
                    dialog: (document.querySelector('.jp-Dialog') || {}).textContent,
                })""",
                [KERNEL_INDICATOR, KERNEL_STATUS_TEXT, CODE_CELL]))
        return "(page state unavailable)"


def _code_cells_with_source(nb_path: Path) -> list[int]:
    """Indexes, among the code cells, of those JupyterLab executes: an empty one it skips."""
    nb = nbformat.read(nb_path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    return [k for k, c in enumerate(code) if c.source.strip()]


def _copy_stripped(src: Path, dst: Path) -> None:
    """The notebook without outputs or execution counts: the committed one is never run in
    place (JupyterLab autosaves outputs into what it runs), and an execution count seen in the
    copy then proves the cell ran in this session."""
    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.write(nb, dst)


def _launch_chromium(pw: Playwright) -> Browser:
    # --no-sandbox: Chromium's sandbox refuses to start as root and needs user namespaces
    # a container may not give; the page is our own loopback server.
    return pw.chromium.launch(
        executable_path=chromium_path(), headless=True,
        args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])


@dataclass
class LabSession:
    """One JupyterLab server and one headless Chromium, for several notebooks in turn: each
    `open()` copies a notebook into the server's root, opens it in a page of its own, and at
    the block's end closes the page and shuts its kernel down (the server and the browser
    stay, which saves their start-up for every notebook after the first).

    `open(path, then=next_path)` also starts loading the next notebook in a second page once
    this one's kernel is idle: JupyterLab's start-up in the browser (about 6 s) and the next
    kernel's then overlap this notebook's run. Each page has a workspace of its own, so the
    two never share a layout."""

    server: LabServer
    browser: Browser
    root: Path  # what the server serves; the copies are made here
    _loading: dict[Path, LabNotebook] = field(default_factory=dict)

    def preload(self, notebook: Path) -> None:
        """Copy `notebook` and start opening it in a page of its own, without waiting: a later
        `open(notebook)` takes that page up."""
        notebook = Path(notebook).resolve()
        if notebook not in self._loading:
            self._loading[notebook] = self._start(notebook)

    def _start(self, notebook: Path) -> LabNotebook:
        copy = self.root / notebook.name
        if copy.exists():
            raise FileExistsError(f"{copy.name} was already opened in this session")
        _copy_stripped(notebook, copy)
        page = self.browser.new_page(viewport=VIEWPORT)
        nb = LabNotebook(page, self.server, copy)
        page.on("console",
                lambda m: m.type == "error" and nb.console_errors.append(m.text))
        page.on("pageerror", lambda e: nb.page_errors.append(str(e)))
        workspace = re.sub(r"[^A-Za-z0-9-]+", "-", copy.stem)
        # "commit": return once the navigation started; the page loads on its own meanwhile
        page.goto(f"{self.server.url}/lab/workspaces/{workspace}/tree/{copy.name}"
                  f"?reset&token={self.server.token}",
                  timeout=KERNEL_IDLE_TIMEOUT * 1000, wait_until="commit")
        return nb

    @contextlib.contextmanager
    def open(self, notebook: Path, *, run_all: bool = True, name: str | None = None,
             then: Path | None = None) -> Iterator[LabNotebook]:
        """`notebook` copied (without outputs) into the root under its own file name, opened,
        its kernel idle and (unless run_all=False) all its cells run; `then`, if given, starts
        loading meanwhile (see the class). On an exception inside the block a screenshot
        `failure-<name>` is saved first."""
        notebook = Path(notebook).resolve()
        name = name or notebook.stem
        nb = self._loading.pop(notebook, None) or self._start(notebook)
        try:
            nb.page.locator(".jp-Notebook").first.wait_for(timeout=KERNEL_IDLE_TIMEOUT * 1000)
            nb.wait_kernel_idle()
            if then is not None:
                self.preload(then)
            if run_all:
                nb.run_all()
            yield nb
        except BaseException:
            with contextlib.suppress(Exception):
                nb.screenshot(f"failure-{name}")
            raise
        finally:
            with contextlib.suppress(Exception):
                nb.page.close()
            self._shut_down_kernels_of(nb.path.name)

    def _shut_down_kernels_of(self, path: str) -> None:
        """The notebook's session and kernel, through the server: a kernel left running would
        hold memory and CPU the next notebook needs."""
        with contextlib.suppress(Exception):
            sessions = self.server.api("GET", "/api/sessions")
            for s in sessions if isinstance(sessions, list) else []:
                if s.get("path") == path:
                    self.server.api("DELETE", f"/api/sessions/{s['id']}", timeout=STOP_TIMEOUT)


@contextlib.contextmanager
def lab_session(tmp: Path, *, with_files: Sequence[Path] = ()) -> Iterator[LabSession]:
    """JupyterLab serving `tmp/root` and a headless Chromium, until the block ends.

    `with_files` are copied into the root (data a notebook opens by a relative path; the
    notebooks of notebooks/ read theirs from the package, spfteach.resources, so a copy of one
    runs anywhere). Browser and server are stopped whatever happens.
    """
    chromium_path()  # no Chromium: fail before a server is started for nothing
    root = tmp / "root"
    root.mkdir(parents=True, exist_ok=True)
    for extra in with_files:
        shutil.copy2(extra, root / Path(extra).name)
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(lab_server(root, tmp))
        pw = stack.enter_context(sync_playwright())
        browser = _launch_chromium(pw)
        stack.callback(browser.close)
        yield LabSession(server, browser, root)


@contextlib.contextmanager
def lab_notebook(notebook: Path, *, run_all: bool = True, with_files: Sequence[Path] = (),
                 tmp_dir: Path | None = None, name: str | None = None) -> Iterator[LabNotebook]:
    """`notebook` copied into a temporary root, opened in JupyterLab in headless Chromium, its
    kernel idle and (unless run_all=False) all its cells run. `with_files` are copied beside
    it (data it opens by a relative path). On an exception inside the block a screenshot
    `failure-<name>` is saved first; browser and server are stopped whatever happens.
    A server and a browser of its own: for several notebooks, `lab_session` starts them once.
    """
    with contextlib.ExitStack() as stack:
        tmp = tmp_dir if tmp_dir is not None else Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="spfteach-browser-")))
        session = stack.enter_context(lab_session(tmp, with_files=with_files))
        yield stack.enter_context(session.open(notebook, run_all=run_all, name=name))
