"""`make lab` works: scripts/lab.sh (the very launcher the Makefile runs) starts JupyterLab on
loopback, prints a URL with its token that opens 00-start-here.ipynb, serves JupyterLab there,
and stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

from tests.paths import ROOT

LAB_SH = ROOT / "scripts" / "lab.sh"
URL_RE = re.compile(r"http://127\.0\.0\.1:(\d+)/lab(?:/tree/[^?\s]+)?\?token=[0-9a-f]+")
START_TIMEOUT = 90
STOP_TIMEOUT = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def non_loopback_address() -> str | None:
    """This machine's outgoing IPv4 address (no packet is sent), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: routing lookup only
            addr = s.getsockname()[0]
        except OSError:
            return None
    return None if addr.startswith("127.") else addr


def test_make_lab_serves_jupyterlab(tmp_path):
    port = free_port()
    env = dict(os.environ, LAB_PORT=str(port))
    # Keep the server's runtime files (server info, cookie secret) out of the user's home, and
    # the user's own ~/.jupyter settings (a password instead of a token, say) out of the test.
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "config")
    proc = subprocess.Popen(
        ["bash", str(LAB_SH)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so we can stop all of it
    )
    lines: list[str] = []
    found = threading.Event()
    url: list[str] = []

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            m = URL_RE.search(line)
            if m and not found.is_set():
                url.append(m.group(0))
                found.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not found.wait(0.2):
            assert proc.poll() is None, "lab.sh exited early:\n" + "".join(lines[-40:])
            assert time.monotonic() < deadline, (
                f"no URL printed within {START_TIMEOUT} s:\n" + "".join(lines[-40:])
            )
        assert f"127.0.0.1:{port}/" in url[0], f"not on LAB_PORT={port}: {url[0]}"
        assert "/lab/tree/00-start-here.ipynb?" in url[0], f"does not open on 00: {url[0]}"
        # Jupyter Server prints the URL just before its event loop binds the port: retry a
        # refused connection for a while.
        while True:
            try:
                with urllib.request.urlopen(url[0], timeout=30) as resp:
                    status = resp.status
                    body = resp.read().decode("utf-8", "replace")
                break
            except urllib.error.URLError as e:
                refused = isinstance(e.reason, ConnectionRefusedError)
                if not refused or time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        assert status == 200
        assert "<title>JupyterLab</title>" in body, body[:500]
        # Bound to loopback only: not reachable on the machine's other address, if it has one.
        other = non_loopback_address()
        if other is not None:
            with socket.socket() as s:
                s.settimeout(5)
                assert s.connect_ex((other, port)) != 0, f"JupyterLab answers on {other}:{port}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        t.join(timeout=10)
    assert proc.returncode is not None
    # Nothing of its process group is left behind.
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError("processes of the lab.sh group are still running")
    # The port is free again: the server really stopped.
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
