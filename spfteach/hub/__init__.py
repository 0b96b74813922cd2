"""A JupyterHub for a class: the workbook served to local Unix users (``make hub``).

Why a package of its own: the hub is a front end (the rank of :mod:`spfteach.cli`), and
what sets it up, the roster command and the harness the tests and the load benchmark
drive (:class:`~.local.LocalHub`) are the same code, so that what the term test checks is
what an instructor runs.

* :mod:`.settings`: where everything lives under the hub's root, read by the hub's config;
* :mod:`.jupyterhub_config`: the hub's configuration (``jupyterhub -f``);
* :mod:`.accounts`: Unix users, groups and homes (the hub runs as root, each student's
  server as the student);
* :mod:`.roster`: the class list (CSV) applied to Unix, the hub and the gradebook;
* :mod:`.local`: :class:`~.local.LocalHub`, start/stop a hub and drive it by its REST API;
* :mod:`.cli`: ``spfteach hub serve|roster|status``.
"""

from .local import HubError, LocalHub
from .settings import Settings

__all__ = ["HubError", "LocalHub", "Settings"]
