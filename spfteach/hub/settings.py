"""Where a hub's files live, and who is in its class: one JSON file under the hub's root.

Why a file and not the command line: the hub's config (:mod:`.jupyterhub_config`, run by
``jupyterhub`` in the hub's own venv), the roster command and the test harness all need
the same answers (the port, the instructor, the graders, the exchange), and the roster
may change while the hub runs.  ``<root>/hub.json`` holds them; nothing secret is in it
(the admin service's token is in ``<root>/hub/``, root's alone).

The layout under the root (the root itself ``0755``, owned by root)::

    hub.json        these settings
    hub/            the hub's state: database, cookie secret, admin token (0700, root)
    home/<user>/    each user's home (0700, the user's): the guided notebooks land here
    exchange/       nbgrader's exchange (0777), shared by every user, as nbgrader wants
    course/         the course directory (the instructor's, group-writable by the graders)
    etc/common/     nbgrader_config.py for everyone: the exchange's root and the course id
    etc/student/    the students' server config (no formgrader in a student's server)
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: the repository (the editable install's checkout): the notebooks and the course
REPO = Path(__file__).resolve().parent.parent.parent
COURSE_ID = "spfteach"
ROLES = ("student", "grader", "instructor")


def hub_venv() -> Path:
    """The venv the hub and every user's server run from.  Not ``.venv``: that one may be
    built on an interpreter under ``/root`` (pyenv), which no student can execute;
    ``scripts/setup.sh`` builds ``.venv-hub`` on the system's ``/usr/bin/python3``."""
    return Path(os.environ.get("SPFTEACH_HUB_VENV", REPO / ".venv-hub"))


def proxy_command() -> Path:
    """configurable-http-proxy, installed by npm into the hub venv's prefix."""
    return hub_venv() / "node_modules" / ".bin" / "configurable-http-proxy"


@dataclass
class Person:
    first: str
    last: str
    email: str
    role: str = "student"


@dataclass
class Settings:
    """A hub: where (``root``), on which port of 127.0.0.1, and its class."""

    root: Path
    port: int = 8000
    course_id: str = COURSE_ID
    #: the Unix group of the instructor and the teaching assistants (the course is theirs)
    graders_group: str = "spfteach-graders"
    #: seconds a user's server may sit idle before the culler stops it
    cull_timeout: int = 3600
    people: dict[str, Person] = field(default_factory=dict)

    # ---- the layout
    @property
    def file(self) -> Path:
        return self.root / "hub.json"

    @property
    def state(self) -> Path:
        return self.root / "hub"

    @property
    def homes(self) -> Path:
        return self.root / "home"

    @property
    def exchange(self) -> Path:
        return self.root / "exchange"

    @property
    def course(self) -> Path:
        return self.root / "course"

    @property
    def etc_common(self) -> Path:
        return self.root / "etc" / "common"

    @property
    def etc_student(self) -> Path:
        return self.root / "etc" / "student"

    @property
    def admin_token_file(self) -> Path:
        return self.state / "admin-token"

    # ---- ports: the public one, then the proxy's API, the hub's own, the formgrader
    @property
    def proxy_api_port(self) -> int:
        return self.port + 1

    @property
    def hub_port(self) -> int:
        return self.port + 2

    @property
    def formgrader_port(self) -> int:
        return self.port + 3

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- the class
    def with_role(self, role: str) -> list[str]:
        return sorted(u for u, p in self.people.items() if p.role == role)

    @property
    def instructor(self) -> str | None:
        found = self.with_role("instructor")
        return found[0] if found else None

    @property
    def graders(self) -> list[str]:
        """Who grades: the instructor and the teaching assistants."""
        return self.with_role("instructor") + self.with_role("grader")

    @property
    def formgrade_group(self) -> str:
        """The hub group that may reach the formgrader; nbgrader's JupyterHub docs name it
        ``formgrade-<course id>``, the service being named after the course."""
        return f"formgrade-{self.course_id}"

    # ---- the file
    def save(self) -> None:
        d = asdict(self)
        d["root"] = str(self.root)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(d, indent=1, sort_keys=True) + "\n")
        tmp.chmod(0o644)
        tmp.replace(self.file)

    @classmethod
    def load(cls, root: Path | str) -> Settings:
        root = Path(root)
        d = json.loads((root / "hub.json").read_text())
        d["root"] = root
        d["people"] = {u: Person(**p) for u, p in d.get("people", {}).items()}
        return cls(**d)
