"""``LocalHub``: a JupyterHub on 127.0.0.1 under a root directory, started, driven by its
REST API, stopped.  ``make hub`` serves through it, and the term test
(``tests/hub/test_term.py``) and the load benchmark drive it the same way.

Why the REST API and not the hub's Python objects: that is what a student's browser and
the instructor's tools reach, and what the hub checks permissions on; a harness that went
around it would test something no user does.  Why a process group of its own: stopping
the hub must stop its proxy, its services and every user's server, and nothing else.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from . import accounts
from .settings import Settings, hub_venv, proxy_command

CONFIG = Path(__file__).with_name("jupyterhub_config.py")


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), children first."""
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            parent[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def free_port_block(n: int = 4) -> int:
    """A free port on 127.0.0.1 with the next ``n - 1`` free too: a LocalHub takes four in a
    row (see :class:`LocalHub`)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + n > 65535:
            continue
        ok = True
        for p in range(base + 1, base + n):
            with socket.socket() as t:
                try:
                    t.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise OSError("no four free ports in a row on 127.0.0.1")


class HubError(Exception):
    """The hub did not do what was asked (one line: what, and where to look)."""


def layout(s: Settings) -> None:
    """The directories and files under the root, with their owners and modes (idempotent):
    see :mod:`.settings`.  The exchange is 1777: every user writes there, as nbgrader's
    exchange needs, and the sticky bit keeps one user from renaming or removing what
    another made (the course's directory in it)."""
    s.root.mkdir(parents=True, exist_ok=True)
    s.root.chmod(0o755)
    for d, mode in ((s.state, 0o700), (s.homes, 0o755), (s.exchange, 0o1777),
                    (s.etc_common, 0o755), (s.etc_student, 0o755)):
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(mode)
    s.etc_common.parent.chmod(0o755)
    (s.etc_common / "nbgrader_config.py").write_text(
        "# Written by spfteach.hub (layout): what every user's nbgrader needs to share\n"
        "# one exchange on this machine.\n"
        "c = get_config()  # noqa: F821\n"
        f"c.Exchange.root = {str(s.exchange)!r}\n"
        f"c.CourseDirectory.course_id = {s.course_id!r}\n"
        "# collect only what each student made (spfteach/hub/exchange.py says why)\n"
        "c.ExchangeFactory.collect = 'spfteach.hub.exchange.OwnedCollect'\n")
    # A student's own server has no formgrader (it would grade nothing of the course's:
    # the course and its gradebook are the instructor's); the assignment list stays.
    (s.etc_student / "jupyter_server_config.json").write_text(json.dumps({
        "ServerApp": {"jpserver_extensions": {
            "nbgrader.server_extensions.formgrader": False,
            "nbgrader.server_extensions.course_list": False}}}, indent=1) + "\n")
    # ...and JupyterLab shows a student no instructor's panel (creating an assignment, the
    # formgrader, the course list): the Nbgrader menu keeps the assignment list.
    (s.etc_student / "labconfig").mkdir(exist_ok=True)
    (s.etc_student / "labconfig").chmod(0o755)
    (s.etc_student / "labconfig" / "page_config.json").write_text(json.dumps({
        "disabledExtensions": {f"@jupyter/nbgrader:{p}": True
                               for p in ("create-assignment", "formgrader", "course-list")}},
        indent=1) + "\n")
    # ...nor JupyterLab's question whether to fetch Jupyter's news from the internet, which
    # every new home would ask (a hub's users cannot be asked one by one; the hub decides)
    (s.etc_student / "labconfig" / "default_setting_overrides.json").write_text(json.dumps({
        "@jupyterlab/apputils-extension:notification": {"fetchNews": "false"}}, indent=1) + "\n")
    for f in (s.etc_common / "nbgrader_config.py", s.etc_student / "jupyter_server_config.json",
              s.etc_student / "labconfig" / "page_config.json",
              s.etc_student / "labconfig" / "default_setting_overrides.json"):
        f.chmod(0o644)
    if not s.admin_token_file.exists():
        s.admin_token_file.write_text(secrets.token_hex(32) + "\n")
    s.admin_token_file.chmod(0o600)
    if not s.file.exists():
        s.save()


class LocalHub:
    """A hub under ``root`` on ``127.0.0.1:port`` (the next three ports are its proxy's API,
    the hub's own port and the formgrader).  Root only: it creates Unix users.

        hub = LocalHub("/srv/spfteach-hub", 8000)
        hub.roster(rows)                   # users, graders, instructor, gradebook
        hub.start()
        tok = hub.token("s01")             # an API token of s01's own
        url = hub.start_server("s01")      # http://127.0.0.1:8000/user/s01/
        hub.user_api("s01", tok, "GET", "api/contents")
        hub.stop()
    """

    def __init__(self, root: Path | str, port: int = 8000, *,
                 graders_group: str = "spfteach-graders", cull_timeout: int = 3600) -> None:
        root = Path(root)
        if (root / "hub.json").exists():
            self.settings = Settings.load(root)
            self.settings.port = port
        else:
            self.settings = Settings(root, port, graders_group=graders_group,
                                     cull_timeout=cull_timeout)
        self.proc: subprocess.Popen[bytes] | None = None

    # ---- the files
    @property
    def root(self) -> Path:
        return self.settings.root

    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def log(self) -> Path:
        return self.settings.state / "jupyterhub.log"

    def prepare(self) -> None:
        layout(self.settings)
        self.settings.save()

    def roster(self, rows: list[Any]) -> list[str]:
        """Apply roster rows (:func:`.roster.apply`), telling the hub if it runs."""
        from . import roster

        return roster.apply(self.settings, rows, hub=self if self.answering() else None)

    # ---- the process
    def running(self) -> bool:
        """This object's hub process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def answering(self) -> bool:
        """A hub answers on this port with this root's admin token (started by this object
        or another: ``make hub`` while ``spfteach hub roster`` runs)."""
        try:
            return self.api("GET", "users")[0] == 200
        except (OSError, ValueError):
            return False

    def start(self, timeout: float = 120) -> None:
        """Start the hub and wait until its API answers."""
        if self.running():
            return
        self.prepare()
        for exe in (hub_venv() / "bin" / "python", proxy_command()):
            if not exe.exists():
                raise HubError(f"{exe} is missing: run `make setup` (scripts/setup.sh) first")
        env = {"PATH": f"{hub_venv() / 'bin'}:/usr/local/bin:/usr/bin:/bin",
               "SPFTEACH_HUB_ROOT": str(self.root), "LANG": "C.UTF-8", "HOME": "/root"}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(hub_venv() / "bin" / "python"), "-m", "jupyterhub", "-f", str(CONFIG)],
                cwd=self.settings.state, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HubError(f"jupyterhub exited ({self.proc.returncode}): see {self.log}")
            try:
                if self.api("GET", "")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise HubError(f"jupyterhub did not answer in {timeout:.0f} s: see {self.log}")

    def stop(self, timeout: float = 60) -> None:
        """Stop the hub (it stops the users' servers and its services), then anything left in
        its process group."""
        p, self.proc = self.proc, None
        if p is None:
            return
        # The proxy, the services and the users' servers each run in a session of their
        # own: what is left of them once the hub is gone is found by parentage, now.
        children = _descendants(p.pid)
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        for pid in [p.pid, *children]:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        p.wait()

    def __enter__(self) -> LocalHub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def destroy(self) -> None:
        """Stop, then remove every user of the roster (with their homes), the graders'
        group and the root: what a test leaves, or a crashed run left."""
        self.stop()
        for name in sorted(self.settings.people):
            accounts.remove_user(name)
        accounts.remove_group(self.settings.graders_group)
        subprocess.run(["rm", "-rf", "--one-file-system", str(self.root)], check=False)

    # ---- HTTP
    def http(self, method: str, url: str, token: str | None = None,
             body: object | None = None, timeout: float = 120) -> tuple[int, Any]:
        """(status, decoded JSON or text) of one request; never raises on an HTTP status."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if token:
            req.add_header("Authorization", f"token {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        text = raw.decode("utf-8", "replace")
        try:
            return status, json.loads(text) if text else None
        except json.JSONDecodeError:
            return status, text

    def admin_token(self) -> str:
        return self.settings.admin_token_file.read_text().strip()

    def api(self, method: str, path: str, body: object | None = None,
            token: str | None = None) -> tuple[int, Any]:
        """The hub's REST API (``/hub/api/<path>``), as the admin service by default."""
        return self.http(method, f"{self.url}/hub/api/{path}".rstrip("/"),
                         token or self.admin_token(), body)

    def _ok(self, what: str, got: tuple[int, Any], *ok: int) -> Any:
        if got[0] not in (ok or (200, 201, 204)):
            raise HubError(f"{what}: HTTP {got[0]}: {str(got[1])[:300]}")
        return got[1]

    # ---- users
    def add_users(self, names: list[str]) -> None:
        """Hub users for existing Unix users (the roster makes both)."""
        have = {u["name"] for u in self._ok("list users", self.api("GET", "users")) or []}
        new = [n for n in names if n not in have]
        if new:
            self._ok("add users", self.api("POST", "users", {"usernames": new}))

    def sync_roster(self) -> list[str]:
        """The roster's people and the formgrade group into the running hub."""
        s = self.settings
        have = {u["name"] for u in self._ok("list users", self.api("GET", "users")) or []}
        self.add_users(sorted(s.people))
        g = s.formgrade_group
        self._ok("add graders", self.api("POST", f"groups/{g}/users", {"users": s.graders}))
        return [f"hub user {n}" for n in sorted(set(s.people) - have)]

    def token(self, user: str, note: str = "spfteach.hub") -> str:
        """A new API token of ``user``'s own (it can do what the user can, no more)."""
        got = self._ok(f"token for {user}", self.api(
            "POST", f"users/{user}/tokens", {"note": note, "expires_in": 86400}))
        return str(got["token"])

    def start_server(self, user: str, token: str | None = None, timeout: float = 300) -> str:
        """Start ``user``'s server (with their token if given) and wait until it is ready;
        returns its URL."""
        status, body = self.api("POST", f"users/{user}/server", token=token)
        if status not in (201, 202, 400):  # 400: already running
            raise HubError(f"start {user}'s server: HTTP {status}: {body}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self._ok(f"read {user}", self.api("GET", f"users/{user}"))
            server = (info.get("servers") or {}).get("")
            if server and server.get("ready"):
                return f"{self.url}{server['url']}"
            if not info.get("pending") and not server:
                raise HubError(f"{user}'s server failed to start: see {self.log}")
            time.sleep(0.5)
        raise HubError(f"{user}'s server not ready after {timeout:.0f} s: see {self.log}")

    def stop_server(self, user: str) -> None:
        self._ok(f"stop {user}'s server", self.api("DELETE", f"users/{user}/server"),
                 202, 204, 400)

    def user_api(self, user: str, token: str, method: str, path: str,
                 body: object | None = None, timeout: float = 120) -> tuple[int, Any]:
        """A request to ``user``'s own server (``/user/<user>/<path>``) with ``token``."""
        return self.http(method, f"{self.url}/user/{user}/{path}", token, body, timeout)

    def service_api(self, token: str, method: str, path: str, body: object | None = None,
                    timeout: float = 300) -> tuple[int, Any]:
        """A request to the formgrader service (``/services/<course>/<path>``)."""
        return self.http(method, f"{self.url}/services/{self.settings.course_id}/{path}",
                         token, body, timeout)
