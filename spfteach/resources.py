"""The files spfteach reads at run time, shipped inside the package (``spfteach/data/``).

Why inside the package: a student's spfteach may be a wheel installed on a JupyterHub, with
no repository around it. The steppers' C panels (``c-excerpts*.json``), the explorer's mutant
matrix (``mutants.json``), the two designs (``designs.json``), the recorded kernel runs
(``kernel-bench/*.json``), the published v9 figures (``spf-v9-ebizzy.json``) and the subjects
of our patches (``patches.json``) must then come with the code. Everything reads them through
:mod:`importlib.resources`, which finds them wherever the package is: a checkout (an editable
install, ``make setup``) or site-packages.

Writing is another matter: ``make bench``, ``python -m spfteach.csource.excerpts`` and
``spfteach kernel bench`` are developer tools that regenerate these files in the checkout, so
that git shows the change. :func:`checkout_data` is their directory; an installed wheel has
none (its files are the release's, not something to edit in place), and they say so.
"""

from __future__ import annotations

import json
import os
import sys
from importlib.resources import files as _package_files
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # importlib.resources.abc is Python 3.11+; only the type is needed here
    from importlib.resources.abc import Traversable

#: the directory of the package's data, relative to the package
DATA_DIR = "data"
#: where the recorded runs of ``spfteach kernel bench`` are, inside the data
KERNEL_RUNS = "kernel-bench"
#: what a hub sets in every single-user server's environment (JupyterHub's spawner)
HUB_ENV = "JUPYTERHUB_USER"

_ROOT = Path(__file__).resolve().parent.parent


class NotACheckout(RuntimeError):
    """A developer tool asked for the checkout, and spfteach is installed without one."""


def files() -> Traversable:
    """The package's data directory, wherever the package is installed."""
    return _package_files("spfteach").joinpath(DATA_DIR)


def resource(name: str) -> Traversable:
    """One file of the data, by its path inside it (``kernel-bench/<run>.json``)."""
    node = files()
    for part in name.split("/"):
        node = node.joinpath(part)
    return node


def read_json(name: str) -> Any:
    """A JSON file of the data, parsed (``read_json("mutants.json")``)."""
    return json.loads(resource(name).read_text(encoding="utf-8"))


def kernel_runs() -> list[Traversable]:
    """The recorded ``spfteach kernel bench`` runs, oldest first (their names start with
    the time they were made): what students read instead of building the kernel."""
    runs = resource(KERNEL_RUNS)
    return sorted((p for p in runs.iterdir() if p.name.endswith(".json")),
                  key=lambda p: p.name)


def kernel_run(name: str) -> dict[str, Any]:
    """One recorded kernel run, by its file name (``20261202T061834-vm.json``)."""
    return read_json(f"{KERNEL_RUNS}/{name}")


def checkout() -> Path | None:
    """The source checkout this spfteach runs from, or None: installed as a wheel.

    A checkout is where the package sits in the repository: beside ``pyproject.toml`` and the
    kernel port (``kernel/patches/``). The kernel's commands and the benches need it."""
    if (_ROOT / "pyproject.toml").is_file() and (_ROOT / "kernel" / "patches").is_dir():
        return _ROOT
    return None


def checkout_data(tool: str) -> Path:
    """The checkout's copy of the data, which the developer tools rewrite (``tool`` names the
    tool for the message); :class:`NotACheckout` when spfteach is installed without one."""
    root = checkout()
    if root is None:
        raise NotACheckout(
            f"{tool} writes into a checkout's spfteach/data/, and this spfteach is installed "
            f"at {_ROOT / 'spfteach'} without one: run it from a git checkout (`make setup`)")
    return root / "spfteach" / DATA_DIR


def checkout_data_or_exit(tool: str) -> Path:
    """:func:`checkout_data` for a tool's ``main``: without a checkout, one line on stderr
    and exit status 2, before the tool does anything slow."""
    try:
        return checkout_data(tool)
    except NotACheckout as e:
        print(f"{tool}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def on_hub() -> bool:
    """Whether this runs in a JupyterHub user's server (which sets ``$JUPYTERHUB_USER``)."""
    return bool(os.environ.get(HUB_ENV))
