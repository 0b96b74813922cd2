"""Unix accounts for the hub: users, the graders' group, homes, and running as a user.

Why real Unix users: the LocalProcessSpawner runs each student's server as the student,
so the kernel, the files and nbgrader's record of who submitted (the login name) are the
operating system's answer, not the hub's.  Homes are 0700: one student cannot read
another's work.  Everything here shells out to Debian's ``useradd``/``usermod``/
``userdel``/``groupadd`` (root only), and is idempotent: an existing user is kept, with
its home, and only joined to the groups it lacks.
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


class AccountError(Exception):
    """A system command refused (its one line of stderr)."""


#: the exit status of useradd & co. when another one holds /etc/passwd's lock
LOCKED = 10


def _run(argv: list[str], tries: int = 20) -> None:
    """Run a shadow-utils command; while another holds the passwd lock (another roster,
    an administrator's ``useradd``), wait and try again, a few seconds at most."""
    for attempt in range(tries):
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != LOCKED or attempt == tries - 1:
            break
        time.sleep(0.25)
    if r.returncode != 0:
        line = (r.stderr.strip() or r.stdout.strip() or f"exit {r.returncode}").splitlines()[0]
        raise AccountError(line if line.startswith(argv[0]) else f"{argv[0]}: {line}")


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def ensure_group(name: str) -> int:
    """The group's gid, creating it (a system group) if absent."""
    if not group_exists(name):
        _run(["groupadd", "--system", name])
    return grp.getgrnam(name).gr_gid


def ensure_user(name: str, full_name: str, home: Path, groups: Sequence[str] = ()) -> None:
    """A user with a 0700 home at ``home`` (an existing user keeps the home it has) and
    membership of ``groups``."""
    if not user_exists(name):
        home.parent.mkdir(parents=True, exist_ok=True)
        argv = ["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash",
                "--user-group", "--comment", full_name.replace(":", " ")]
        if groups:
            argv += ["--groups", ",".join(groups)]
        try:
            _run([*argv, name])
        except AccountError:
            if not user_exists(name):  # made meanwhile by someone else: then it is there
                raise
    if user_exists(name):
        missing = [g for g in groups if name not in grp.getgrnam(g).gr_mem]
        if missing:
            _run(["usermod", "--append", "--groups", ",".join(missing), name])
    pw = pwd.getpwnam(name)
    os.chmod(pw.pw_dir, 0o700)


def remove_user(name: str) -> None:
    """The user and its home, gone (a missing user is not an error)."""
    if user_exists(name):
        _run(["userdel", "--force", "--remove", name])
    if group_exists(name):  # its own group, left behind when it had other members
        _run(["groupdel", name])


def remove_group(name: str) -> None:
    if group_exists(name):
        _run(["groupdel", name])


def as_user(name: str, argv: Sequence[str], *, cwd: Path | str | None = None,
            env: Mapping[str, str] | None = None, timeout: float | None = None,
            umask: int = 0o022) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as ``name`` (its uid, its group and its supplementary groups), with
    ``HOME``/``USER``/``LOGNAME`` its own and ``env`` added: what ``runuser`` does,
    without a shell in between."""
    pw = pwd.getpwnam(name)
    groups = [g.gr_gid for g in grp.getgrall() if name in g.gr_mem]
    full = {"HOME": pw.pw_dir, "USER": name, "LOGNAME": name, "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8", **(env or {})}
    return subprocess.run(list(argv), cwd=cwd, env=full, user=pw.pw_uid, group=pw.pw_gid,
                          extra_groups=groups, umask=umask, capture_output=True, text=True,
                          timeout=timeout)
