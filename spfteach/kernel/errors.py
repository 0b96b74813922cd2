"""The one exception of the kernel driver.

Every failure a user can meet (a missing tool, a patch that does not apply, an
option kconfig dropped, a guest that did not print its result) is raised as a
:class:`KernelError` whose message is one line saying what went wrong and what to
do.  The command prints it as ``spfteach: error: ...`` and exits with status 2,
so nobody has to read a traceback to learn that ``flex`` is missing.
"""

from __future__ import annotations


class KernelError(Exception):
    """A failure of the kernel pipeline, explained in one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))  # one line, whatever the caller built
