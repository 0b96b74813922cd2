"""Named scenarios: the races the workbook teaches, ready to step or explore."""

from __future__ import annotations

import difflib

from ..model.errors import UsageError
from .base import Scenario
from .catalogue import CATALOGUE, CONFIGS

#: Races first (two threads, then three), then single-fault configurations.
SCENARIOS: dict[str, Scenario] = {s.name: s for s in CATALOGUE + CONFIGS}
RACES: tuple[str, ...] = tuple(s.name for s in CATALOGUE)


class UnknownScenario(UsageError, KeyError):
    def __str__(self) -> str:
        return self.args[0]


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        close = difflib.get_close_matches(name, SCENARIOS, n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise UnknownScenario(f"unknown scenario {name[:60]!r}{hint} (list them with: "
                              "spfteach scenarios)") from None


__all__ = ["SCENARIOS", "Scenario", "get", "UnknownScenario"]
