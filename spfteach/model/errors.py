"""What the engine raises when it is asked for something that does not exist.

Every such error is a :class:`UsageError`: an unknown scenario, mutant or check,
an address the MMU would never translate, a schedule that cannot be followed.
The command line prints it as one line and exits 2; a notebook shows the same
sentence.  (A bug in the model itself is a ``ModelError``, never one of these.)
"""

from __future__ import annotations


class UsageError(Exception):
    """A request the engine cannot carry out; the message says what to do."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
