"""When a widget must not be interactive: under nbgrader's autograde or validate.

nbgrader executes a notebook with no browser on the other end: a widget there
renders nothing useful and a waiting callback can hang the cell (nbgrader
#1359).  It sets ``NBGRADER_EXECUTION`` in the kernel's environment (autograde:
``autograde``, validate: ``validate``; validate also ``NBGRADER_VALIDATING``),
so a widget reads that and shows one line of text instead.
"""

from __future__ import annotations

import os


def text_mode() -> bool:
    """True when the notebook is being executed by nbgrader, not used by a person."""
    return bool(os.environ.get("NBGRADER_EXECUTION") or os.environ.get("NBGRADER_VALIDATING"))
