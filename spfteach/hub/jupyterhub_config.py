"""The hub's configuration: ``jupyterhub -f spfteach/hub/jupyterhub_config.py``, run as root
with ``SPFTEACH_HUB_ROOT`` naming the hub's root (:mod:`.settings` says what is there).

Why each part:

* 127.0.0.1 only (the hub, its proxy's API, the hub's own port, the formgrader): a course
  puts a TLS front (nginx, ...) before it; nothing here listens beyond the machine;
* real Unix users (PAM), each server spawned *as its user* by the LocalProcessSpawner (the
  hub is root), in the user's 0700 home: a student's files are theirs alone, and the
  student id nbgrader records on submission (the login name) is the hub's user name;
* the guided notebooks are copied into a home at each spawn when absent (never over a
  student's own copy);
* nbgrader's exchange is one shared directory (0777) named in ``etc/common``'s
  nbgrader_config.py, which every server and the formgrader read (``JUPYTER_CONFIG_PATH``),
  as nbgrader's documentation sets it up for several users on one machine;
* the formgrader is a hub *service* named after the course, running as the instructor in
  the course directory (so the course's own ``nbgrader_config.py``, with its jailed
  autograde, applies); the instructor and the graders reach it through the group
  ``formgrade-<course>`` and its role (``access:services!service=<course>``), nobody else;
* the idle culler stops servers idle for ``cull_timeout`` seconds;
* ``spfteach-admin``, a service without a process whose token (root's alone) lets the
  roster command and the test harness add users and issue their tokens.
"""

import os
import pwd
import shutil
from pathlib import Path

from spfteach.hub.settings import REPO, Settings, hub_venv, proxy_command

c = get_config()  # noqa: F821 - jupyterhub's config loader provides it

S = Settings.load(os.environ["SPFTEACH_HUB_ROOT"])
VENV_BIN = hub_venv() / "bin"
PATH = f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin"
ADMIN_TOKEN = S.admin_token_file.read_text().strip()

# ---- where the hub listens and keeps its state
c.JupyterHub.bind_url = S.url
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{S.hub_port}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{S.proxy_api_port}"
c.ConfigurableHTTPProxy.command = [str(proxy_command())]
c.ConfigurableHTTPProxy.pid_file = str(S.state / "proxy.pid")
c.JupyterHub.pid_file = str(S.state / "jupyterhub.pid")
c.JupyterHub.db_url = f"sqlite:///{S.state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(S.state / "jupyterhub_cookie_secret")
c.JupyterHub.cleanup_servers = True  # a stopped hub leaves no user's server behind

# ---- who may log in: the roster's people, with their Unix passwords
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = set(S.people)
c.Authenticator.allow_existing_users = True  # the roster adds people while the hub runs
c.JupyterHub.load_groups = {S.formgrade_group: {"users": S.graders}}

# ---- each user's server: as that user, in their home, from the hub's venv
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.ip = "127.0.0.1"
c.Spawner.notebook_dir = "~"
c.Spawner.default_url = "/lab/tree/00-start-here.ipynb"
c.Spawner.environment = {
    "PATH": PATH,
    "JUPYTER_CONFIG_PATH": f"{S.etc_student}:{S.etc_common}",
}
# 20 servers starting at once on two cores take a while each
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 300
# a server asked to stop gets SIGINT, then SIGTERM, then SIGKILL: a few seconds each, not 10+5
c.Spawner.interrupt_timeout = 3
c.Spawner.term_timeout = 3


def copy_notebooks(spawner) -> None:  # noqa: ANN001 - a jupyterhub Spawner
    """The guided notebooks into the user's home, each only if absent, owned by the user."""
    pw = pwd.getpwnam(spawner.user.name)
    for nb in sorted((REPO / "notebooks").glob("*.ipynb")):
        dest = Path(pw.pw_dir) / nb.name
        if not dest.exists():
            shutil.copyfile(nb, dest)
            os.chown(dest, pw.pw_uid, pw.pw_gid)
            dest.chmod(0o644)


c.Spawner.pre_spawn_hook = copy_notebooks

# ---- services: the formgrader (as the instructor), the idle culler, the admin token
services = [
    {"name": "spfteach-admin", "api_token": ADMIN_TOKEN},
    {
        "name": "idle-culler",
        "command": [str(VENV_BIN / "python"), "-m", "jupyterhub_idle_culler",
                    f"--timeout={S.cull_timeout}"],
    },
]
roles = [
    {"name": "spfteach-admin", "services": ["spfteach-admin"],
     "scopes": ["admin:users", "admin:servers", "tokens", "admin:groups", "list:services",
                "read:services"]},
    {"name": "idle-culler", "services": ["idle-culler"],
     "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]},
    {"name": S.formgrade_group, "groups": [S.formgrade_group],
     "scopes": [f"access:services!service={S.course_id}", "list:services",
                f"read:services!service={S.course_id}"]},
]
if S.instructor:
    services.append({
        "name": S.course_id,
        "url": f"http://127.0.0.1:{S.formgrader_port}",
        "command": [str(VENV_BIN / "jupyterhub-singleuser")],
        "user": S.instructor,
        "cwd": str(S.course),
        "environment": {
            "PATH": PATH,
            "JUPYTER_CONFIG_PATH": str(S.etc_common),
            "JUPYTERHUB_DEFAULT_URL": "/formgrader",
            "HOME": pwd.getpwnam(S.instructor).pw_dir,
        },
        "oauth_no_confirm": True,
    })
c.JupyterHub.services = services
c.JupyterHub.load_roles = roles
