"""Idempotent steps: a step is skipped when a stamp records that it ran on the same inputs.

Each step computes a *key*, a SHA-256 over everything its output depends on (the
tarball's identity, the series and every patch, the config fragments, the guest
sources, and the key of the step before it).  After the step succeeds it writes
``<build>/stamps/<step>.json`` with that key; the next run compares keys and skips
the work when they match.  A step that fails, or is interrupted, leaves no stamp
(it is removed before the work starts), so the next run redoes it.  Chaining keys
means an edit to one patch re-runs apply and make (and kconfig only when the patch
touches a Kconfig file), but not the unpack.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from pathlib import Path


def digest(parts: Iterable[str | bytes | Path]) -> str:
    """SHA-256 over ``parts``; a Path contributes its name and content (or 'absent')."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            h.update(f"file:{part.name}\0".encode())
            h.update(part.read_bytes() if part.is_file() else b"<absent>")
        elif isinstance(part, bytes):
            h.update(part)
        else:
            h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


class Stamp:
    """The record that a step ran successfully on inputs with a given key."""

    def __init__(self, directory: Path, step: str) -> None:
        self.path = directory / f"{step}.json"

    def read(self) -> dict | None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def matches(self, key: str) -> bool:
        data = self.read()
        return data is not None and data.get("key") == key

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def write(self, key: str, **info: object) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": key, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                   **info}, indent=1) + "\n")
        tmp.replace(self.path)
