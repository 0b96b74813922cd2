"""``spfteach hub ...``: serve the workbook to a class on a JupyterHub, and enrol the class.

    spfteach hub roster students.csv [--root DIR]   # Unix users, hub users, gradebook
    spfteach hub serve [--root DIR] [--port N]      # the hub on 127.0.0.1:N (make hub)

Both need root (they create Unix users; the hub spawns each server as its user).  Every
mistake is one line on stderr and exit 2, before anything is changed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

DEFAULT_ROOT = "/srv/spfteach-hub"


def add_subparser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    hp = sub.add_parser(
        "hub", help="serve the workbook to a class on a JupyterHub (local Unix users)",
        description="A JupyterHub on 127.0.0.1 serving this workbook to local Unix users, "
                    "each student's server running as the student, with nbgrader's exchange, "
                    "the formgrader as a hub service for the instructor and the graders, and "
                    "an idle culler.  Run as root.")
    hsub = hp.add_subparsers(dest="hub_cmd", metavar="WHAT", parser_class=type(hp))
    root_help = f"the hub's directory (default: $SPFTEACH_HUB_ROOT or {DEFAULT_ROOT})"
    rp = hsub.add_parser(
        "roster", help="create the class's Unix users, hub users and gradebook students",
        description="Read a CSV of the class, one person a line: id, first name, last name, "
                    "e-mail and an optional role (student, grader or instructor; default "
                    "student); a header line is optional.  Create what is missing: Unix users "
                    "with 0700 homes, the graders' group, the course directory, the gradebook's "
                    "students, and the hub's users if the hub runs.  Every row is checked "
                    "before anything is done; running it again changes nothing.")
    rp.add_argument("csv", metavar="FILE", help="the roster (CSV)")
    rp.add_argument("--root", help=root_help)
    sp = hsub.add_parser("serve", help="run the hub in the foreground (Ctrl-C stops it)",
                         description="Start JupyterHub on 127.0.0.1:PORT and wait; Ctrl-C or "
                                     "SIGTERM stops it with every user's server.")
    sp.add_argument("--root", help=root_help)
    sp.add_argument("--port", type=int, default=8000,
                    help="the hub's port (default 8000; the next three are its own)")
    sp.add_argument("--idle", type=int, default=3600, metavar="SECONDS",
                    help="stop a user's server idle this long (the idle culler; default 3600)")


def _root(args: argparse.Namespace) -> Path:
    return Path(args.root or os.environ.get("SPFTEACH_HUB_ROOT") or DEFAULT_ROOT)


def run(args: argparse.Namespace) -> int:
    """The exit status: 0, 2 for a one-line error (nothing changed), 1 if the hub died."""
    if not getattr(args, "hub_cmd", None):
        return _fail("name what: roster or serve (try: spfteach hub --help)")
    from .local import HubError, LocalHub
    from .roster import RosterError, read

    root = _root(args)
    try:
        rows = read(Path(args.csv)) if args.hub_cmd == "roster" else []  # checked first
        if os.geteuid() != 0:
            return _fail("the hub creates Unix users and runs each server as its user: run "
                         "this as root (sudo)")
        if args.hub_cmd == "roster":
            hub = LocalHub(root, _port_of(root))
            for line in hub.roster(rows) or ["nothing to do: everyone is there"]:
                print(line)
            return 0
        if not (root / "hub.json").exists() or LocalHub(root).settings.instructor is None:
            return _fail(f"no instructor in {root}: first `spfteach hub roster FILE --root "
                         f"{root}` with a row whose role is instructor")
        if not 0 < args.port < 65533:
            return _fail(f"port {args.port} is not a port (1-65532)")
        if args.idle < 60:
            return _fail(f"--idle {args.idle}: give at least 60 seconds")
        hub = LocalHub(root, args.port)
        hub.settings.cull_timeout = args.idle
        hub.start()
        print(f"spfteach hub: {hub.url}/ (log: {hub.log}); Ctrl-C stops it", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
        try:
            assert hub.proc is not None
            code = hub.proc.wait()
            return _fail(f"jupyterhub exited ({code}): see {hub.log}", 1)
        except KeyboardInterrupt:
            hub.stop()
            print("spfteach hub: stopped")
            return 0
    except (RosterError, HubError) as e:
        return _fail(str(e))


def _port_of(root: Path) -> int:
    from .settings import Settings

    try:
        return Settings.load(root).port
    except (OSError, ValueError):
        return 8000


def _fail(msg: str, code: int = 2) -> int:
    print(f"spfteach hub: error: {msg}", file=sys.stderr)
    return code
