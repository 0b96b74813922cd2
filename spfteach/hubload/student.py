"""A simulated student, clicking a RaceStepper as a browser does: over the kernel's websocket.

The widget latency bench (:mod:`spfteach.widgets.bench`) clicks in-process; what a
student waits for also crosses the Jupyter server and its kernel.  A :class:`Student` speaks
the Jupyter kernel protocol over the server's ``/api/kernels/<id>/channels`` websocket (the
legacy JSON framing every Jupyter server accepts without a subprotocol): it starts a kernel
with the REST API, executes the cell a student runs in notebook 05 (a stepper with a mutant
on), collects the ipywidgets ``comm_open`` messages the display causes, finds the *Step*
buttons' models, and clicks one by sending the button's comm the message its front end sends,
``{"method": "custom", "content": {"event": "click"}}``.  A click is timed from the send to
the kernel's ``status: idle`` for it, after the state updates it causes (they are published
before the idle).

Only the standard library and tornado (the Jupyter server's own web framework): the simulated
students of :mod:`.bench` run on one event loop, one websocket each.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import struct
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

#: what a student runs: notebook 05's first challenge, displayed
CELL = ('from spfteach.widgets import RaceStepper\n'
        'challenge_1 = RaceStepper("fault-vs-munmap", mutant="hpf_vma_changed")\n'
        'challenge_1')
#: the stepper's "<b>N</b> steps taken" label: the step counter a click advances
_STEPS = re.compile(r"<b>(\d+)</b> steps? taken")
WIDGET_TARGET = "jupyter.widget"


class StudentError(RuntimeError):
    """The kernel or the server did not do what a browser would have seen it do."""


@dataclass(frozen=True)
class Server:
    """A student's Jupyter server: its base URL (``http://127.0.0.1:8000/user/ann/`` through a
    hub, ``http://127.0.0.1:9001/`` alone), the token its API takes, and its process id (to
    measure it), when known."""

    base_url: str
    token: str
    pid: int | None = None

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")


@dataclass
class Click:
    """One Step click: which button, the seconds to idle, the step count before and after."""

    label: str
    seconds: float
    steps_before: int
    steps_after: int


def _decode(frame: str | bytes) -> dict[str, Any]:
    """A kernel message from a websocket frame: JSON text, or (when the message carries binary
    buffers) the legacy binary framing: a count, offsets, the JSON, then the buffers."""
    if isinstance(frame, str):
        return json.loads(frame)
    (nbufs,) = struct.unpack_from("!I", frame, 0)
    offsets = struct.unpack_from("!" + "I" * nbufs, frame, 4)
    end = offsets[1] if nbufs > 1 else len(frame)
    return json.loads(frame[offsets[0]:end].decode())


@dataclass
class Student:
    """One student: a kernel on ``server``, the stepper's widget models, and its clicks."""

    server: Server
    name: str = "student"
    timeout: float = 60.0
    kernel_id: str = ""
    session: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: comm id -> the widget model's state, kept up to date from the kernel's updates
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    clicks: list[Click] = field(default_factory=list)
    _ws: WebSocketClientConnection | None = None

    # --- connection ---------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.server.token}"}

    async def start(self) -> None:
        """Start a kernel (``POST /api/kernels``), open its channels, wait until it answers."""
        client = AsyncHTTPClient()
        resp = await client.fetch(HTTPRequest(
            self.server.url("api/kernels"), method="POST", body=json.dumps({"name": "python3"}),
            headers=self._headers(), request_timeout=self.timeout))
        self.kernel_id = json.loads(resp.body)["id"]
        ws_url = re.sub(r"^http", "ws", self.server.url(
            f"api/kernels/{self.kernel_id}/channels?session_id={self.session}"))
        self._ws = await websocket_connect(
            HTTPRequest(ws_url, headers=self._headers(), request_timeout=self.timeout),
            max_message_size=64 << 20)
        # a kernel just started may not read its shell socket yet: ask until it answers
        deadline = time.monotonic() + self.timeout
        while True:
            msg_id = await self._send("shell", "kernel_info_request", {})
            try:
                await self._until_idle(msg_id, min(5.0, self.timeout))
                return
            except (asyncio.TimeoutError, TimeoutError):
                if time.monotonic() > deadline:
                    raise StudentError(f"{self.name}: the kernel never answered") from None

    async def stop(self) -> None:
        """Close the websocket and shut the kernel down (``DELETE /api/kernels/<id>``)."""
        if self._ws is not None:
            self._ws.close()
            self._ws = None
        if self.kernel_id:
            await AsyncHTTPClient().fetch(HTTPRequest(
                self.server.url(f"api/kernels/{self.kernel_id}"), method="DELETE",
                headers=self._headers(), request_timeout=self.timeout), raise_error=False)
            self.kernel_id = ""

    # --- the protocol ---------------------------------------------------------------

    async def _send(self, channel: str, msg_type: str, content: dict[str, Any]) -> str:
        if self._ws is None:
            raise StudentError(f"{self.name}: not connected (call start() first)")
        msg_id = uuid.uuid4().hex
        msg = {"header": {"msg_id": msg_id, "msg_type": msg_type, "session": self.session,
                          "username": self.name, "version": "5.3",
                          "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
               "parent_header": {}, "metadata": {}, "content": content, "channel": channel,
               "buffers": []}
        await self._ws.write_message(json.dumps(msg))
        return msg_id

    async def _until_idle(self, msg_id: str, timeout: float) -> list[dict[str, Any]]:
        """Read the iopub messages until the kernel is idle after ``msg_id``; keep the widget
        models up to date on the way, and return the messages ``msg_id`` caused."""
        assert self._ws is not None
        caused: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            frame = await asyncio.wait_for(self._ws.read_message(),
                                           max(0.0, deadline - time.monotonic()))
            if frame is None:
                raise StudentError(f"{self.name}: the server closed the kernel's websocket")
            msg = _decode(frame)
            self._track(msg)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            caused.append(msg)
            mtype = msg["header"]["msg_type"]
            if mtype == "error" or (mtype == "execute_reply"
                                    and msg["content"].get("status") == "error"):
                c = msg["content"]
                raise StudentError(f"{self.name}: {c.get('ename')}: {c.get('evalue')}")
            if (msg.get("channel") == "iopub" and mtype == "status"
                    and msg["content"]["execution_state"] == "idle"):
                return caused

    def _track(self, msg: dict[str, Any]) -> None:
        mtype = msg["header"]["msg_type"]
        c = msg.get("content", {})
        if mtype == "comm_open" and c.get("target_name") == WIDGET_TARGET:
            self.models[c["comm_id"]] = dict(c["data"].get("state", {}))
        elif mtype == "comm_msg" and c.get("comm_id") in self.models:
            data = c.get("data", {})
            if data.get("method") in ("update", "echo_update"):
                self.models[c["comm_id"]].update(data.get("state", {}))
        elif mtype == "comm_close":
            self.models.pop(c.get("comm_id"), None)

    # --- what a student does -------------------------------------------------------

    async def execute(self, code: str, timeout: float | None = None) -> list[dict[str, Any]]:
        """Run one cell as the notebook front end does; the messages it caused (an error in
        the cell raises :class:`StudentError`)."""
        msg_id = await self._send("shell", "execute_request", {
            "code": code, "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True})
        return await self._until_idle(msg_id, timeout or self.timeout)

    async def open_stepper(self, cell: str = CELL) -> None:
        """Run the cell that displays the stepper; its widgets' models arrive as ``comm_open``."""
        await self.execute(cell)
        if not self.step_buttons():
            raise StudentError(f"{self.name}: the cell displayed no Step button "
                               f"({len(self.models)} widget models arrived)")

    def _buttons(self, prefix: str) -> dict[str, str]:
        return {s["description"]: cid for cid, s in self.models.items()
                if s.get("_model_name") == "ButtonModel"
                and str(s.get("description", "")).startswith(prefix)}

    def step_buttons(self) -> dict[str, str]:
        """``{"Step T0": comm id, ...}``: every Step button, enabled or not."""
        return self._buttons("Step T")

    def steps_taken(self) -> int:
        """The stepper's step counter, as the front end shows it (-1: no counter seen)."""
        for s in self.models.values():
            m = _STEPS.search(str(s.get("value", "")))
            if m:
                return int(m.group(1))
        return -1

    async def click(self, label: str) -> Click:
        """Click the button described ``label`` as a browser does, and wait for the kernel to
        be idle again (its state updates have then all arrived)."""
        buttons = {**self.step_buttons(), **self._buttons("Reset")}
        if label not in buttons:
            raise StudentError(f"{self.name}: no button {label!r} (have {sorted(buttons)})")
        before = self.steps_taken()
        t0 = time.perf_counter()
        msg_id = await self._send("shell", "comm_msg", {
            "comm_id": buttons[label],
            "data": {"method": "custom", "content": {"event": "click"}}})
        await self._until_idle(msg_id, self.timeout)
        click = Click(label, time.perf_counter() - t0, before, self.steps_taken())
        self.clicks.append(click)
        return click

    def next_button(self, rng: random.Random) -> str:
        """What a student clicks next: an enabled Step button, picked at random; Reset when no
        thread can move (the run is over)."""
        enabled = sorted(label for label, cid in self.step_buttons().items()
                         if not self.models[cid].get("disabled"))
        return rng.choice(enabled) if enabled else "Reset"

    async def work(self, until: float, rng: random.Random,
                   pace: tuple[float, float] = (2.0, 5.0)) -> None:
        """Click at a student's pace until the monotonic clock reaches ``until``: think for a
        uniform ``pace`` seconds (seeded ``rng``), click, again."""
        while True:
            await asyncio.sleep(rng.uniform(*pace))
            if time.monotonic() >= until:
                return
            await self.click(self.next_button(rng))
