"""The students' servers through the real hub: :class:`~spfteach.hub.LocalHub`, local Unix
users, each server spawned by the LocalProcessSpawner as its user and reached through the proxy
at ``/user/<name>/`` with the user's own API token.

Why the same harness as ``make hub``: what is measured is then what a class gets (the proxy in
the path of every websocket frame, each server as its own Unix user from ``.venv-hub``).  Root
only (it creates Unix users); the users and the hub's root directory are removed at the end.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..hub import LocalHub
from ..hub import roster as hub_roster
from ..hub.local import free_port_block
from ..hub.settings import hub_venv, proxy_command
from . import procstat
from .student import Server

#: the simulated students' login names: PREFIX001, PREFIX002, ...
PREFIX = "spfload"


def available() -> str:
    """Why the hub cannot be used here ("" when it can)."""
    if os.geteuid() != 0:
        return "not root (the hub creates Unix users and runs each server as its user)"
    for exe in (hub_venv() / "bin" / "jupyterhub", proxy_command()):
        if not exe.exists():
            return f"{exe} is missing (run `make setup`)"
    taken = [p.pw_name for p in pwd.getpwall() if p.pw_name.startswith(PREFIX)]
    if taken:
        return (f"Unix users {', '.join(taken[:3])}... exist already (a crashed run's? "
                f"remove them with userdel -r)")
    return ""


@dataclass
class HubFleet:
    """N students on a LocalHub started for the benchmark, in a temporary root."""

    kind: str = "JupyterHub (spfteach.hub.LocalHub: LocalProcessSpawner, local Unix users)"
    note: str = ("each student a local Unix user whose server the hub spawned "
                 "(jupyterhub-singleuser from .venv-hub), reached through the proxy at "
                 "/user/<name>/ with the user's own API token")
    hub: LocalHub | None = None
    names: list[str] = field(default_factory=list)
    uids: dict[str, int] = field(default_factory=dict)
    spawning: int = 8

    async def add(self, n: int) -> list[Server]:
        new = [f"{PREFIX}{len(self.names) + i + 1:03d}" for i in range(n)]
        rows = hub_roster.parse("".join(f"{x},Load,Student{x[-3:]},{x}@example.org\n"
                                        for x in self.names + new))
        if self.hub is None:
            root = Path(tempfile.mkdtemp(prefix="spf-hubload-hub-"))
            self.hub = LocalHub(root, free_port_block())
            await asyncio.to_thread(self.hub.roster, rows)
            await asyncio.to_thread(self.hub.start)
        else:
            await asyncio.to_thread(self.hub.roster, rows)
        self.names += new
        hub = self.hub
        sem = asyncio.Semaphore(self.spawning)

        async def spawn(name: str) -> Server:
            async with sem:
                token = await asyncio.to_thread(hub.token, name, "spfteach.hubload")
                url = await asyncio.to_thread(hub.start_server, name, token)
            self.uids[name] = pwd.getpwnam(name).pw_uid
            return Server(url.rstrip("/") + "/", token)

        return list(await asyncio.gather(*(spawn(x) for x in new)))

    def _name(self, server: Server) -> str:
        return server.base_url.rstrip("/").rsplit("/", 1)[1]

    def pids(self, server: Server) -> list[int]:
        return procstat.owned_by(self.uids[self._name(server)])

    def hub_pids(self) -> list[int]:
        """The hub's process and its proxy (not its services, not the users' servers)."""
        if self.hub is None or self.hub.proc is None:
            return []
        me = self.hub.proc.pid
        proxy = set(procstat.matching("configurable-http-proxy"))
        return [p for p in procstat.tree(me) if p == me or p in proxy]

    def close(self) -> None:
        if self.hub is not None:
            self.hub.destroy()
            self.hub = None
