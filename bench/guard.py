"""The regression guard of `make bench QUICK=1`: this run's figures against the committed
results of the last full runs, and which got worse by more than the noise band.

Each figure is compared with the newest full (not quick) results file in bench/results that has
it. A figure with a baseline measured in the same run compares as its ratio (machine-neutral);
the others as their value. The noise band is measured, not assumed: how far the baselines
themselves (the bare app, the peers, a dict, raw redis-py: nothing a polyad change touches)
moved between the two runs, the median of their changes, and at least 10 %. Which way is worse
comes from the figure's target, else from its unit (a time, a share or a size grows worse; a
rate shrinks worse).
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.report import Row

__all__ = ["Regression", "compare", "last_full_figures"]

_MIN_BAND = 0.10
_RATE = re.compile(r"/s\b")     # "req/s", "ops/s"; not "/status"
_LOWER_IS_BETTER = ("ms", "µs", "%", "MB", "bytes", "cpu", "error", "growth", "rss", "p99",
                    "p50")


@dataclass(frozen=True)
class Regression:
    scenario: str
    figure: str
    before: float
    now: float
    change: float       # relative, signed: +0.3 is 30 % more
    band: float

    def __str__(self) -> str:
        return (f"worse: {self.scenario} / {self.figure}: {self.before:g} → {self.now:g} "
                f"({self.change:+.0%}; noise band ±{self.band:.0%})")


def last_full_figures(results_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(scenario, figure) → its row in the newest full results file that has it."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(results_dir.glob("*.json")):   # dated names: oldest first
        document = json.loads(path.read_text())
        if document.get("quick", True):
            continue
        for row in document.get("table", []):
            found[(row["scenario"], row["figure"])] = row
    return found


def _lower_is_better(row: Row) -> bool:
    target = row.target.strip()
    if target.startswith(("≥", ">")):
        return False
    if target.startswith(("≤", "<")):
        return True
    figure = row.figure.lower()
    return (any(word.lower() in figure for word in _LOWER_IS_BETTER)
            and not _RATE.search(figure))


def _change(before: float, now: float) -> float | None:
    return None if not before else (now - before) / abs(before)


def noise_band(rows: Sequence[Row], earlier: dict[tuple[str, str], dict[str, Any]]) -> float:
    """The median move of the baselines between the two runs, at least _MIN_BAND."""
    moves = []
    for row in rows:
        old = earlier.get((row.scenario, row.figure))
        if row.baseline is not None and old is not None and old.get("baseline") is not None:
            change = _change(float(old["baseline"]), row.baseline)
            if change is not None:
                moves.append(abs(change))
    return max(_MIN_BAND, statistics.median(moves)) if moves else _MIN_BAND


def compare(rows: Sequence[Row], results_dir: Path) -> tuple[list[Regression], float, int]:
    """The regressions, the band used, and how many figures had a committed one to compare."""
    earlier = last_full_figures(results_dir)
    band = noise_band(rows, earlier)
    regressions: list[Regression] = []
    compared = 0
    for row in rows:
        old = earlier.get((row.scenario, row.figure))
        if old is None:
            continue
        if row.ratio is not None and old.get("ratio") is not None:
            before, now = float(old["ratio"]), row.ratio
        else:
            before, now = float(old["polyad"]), row.polyad
        change = _change(before, now)
        if change is None:
            continue
        compared += 1
        worse = change if _lower_is_better(row) else -change
        if worse > band:
            regressions.append(Regression(row.scenario, row.figure, before, now, change, band))
    return regressions, band, compared
