"""The idle culler stops a server nobody uses: a hub whose ``cull_timeout`` is 20 s, one
student whose server is started and left alone; jupyterhub-idle-culler (a hub service with
its role) must stop it, and the hub must say so.  Loopback only, about a minute; the user
``sptc-s1`` and ``/tmp/spfteach-hub-cull`` are removed before and after."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import time
from pathlib import Path

import pytest

from spfteach.hub import LocalHub, accounts, roster
from spfteach.hub.local import free_port_block

pytestmark = pytest.mark.timeout(600)

ROOT = Path("/tmp/spfteach-hub-cull")
USER = "sptc-s1"
GROUP = "sptc-graders"


def _clean() -> None:
    if (ROOT / "hub.json").exists():
        LocalHub(ROOT).destroy()
    with contextlib.suppress(KeyError):
        uid = pwd.getpwnam(USER).pw_uid
        for d in Path("/proc").iterdir():
            with contextlib.suppress(OSError):
                if d.name.isdigit() and d.stat().st_uid == uid:
                    os.kill(int(d.name), 9)
    accounts.remove_user(USER)
    accounts.remove_group(GROUP)


def test_an_idle_server_is_culled() -> None:
    if os.geteuid() != 0:
        pytest.fail("the culler test creates a Unix user and runs a hub as root: run as root")
    with open("/tmp/spfteach-hub-cull.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _clean()
        hub = LocalHub(ROOT, free_port_block(), graders_group=GROUP, cull_timeout=20)
        try:
            hub.roster(roster.parse(f"{USER},Idle,Student,idle@example.org\n"))
            hub.start()
            url = hub.start_server(USER, hub.token(USER))
            assert url.endswith(f"/user/{USER}/")
            started = time.monotonic()
            culled = None
            while time.monotonic() - started < 180:
                info = hub.api("GET", f"users/{USER}")[1]
                if not info["servers"] and not info["pending"]:
                    culled = time.monotonic() - started
                    break
                time.sleep(2)
            assert culled is not None, "the idle server was not stopped in 3 minutes"
            assert culled >= 15, f"stopped after {culled:.0f} s: before it was idle 20 s"
            log = hub.log.read_text()
            assert "idle-culler" in log and f"DELETE /hub/api/users/{USER}/server" in log
            print(f"culled {culled:.0f} s after it started (timeout 20 s)")
        finally:
            hub.stop()
            _clean()
