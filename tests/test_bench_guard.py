"""`make bench QUICK=1`'s regression guard (bench/guard.py): a figure worse than the last full
run's by more than the measured noise band is named; one within it, or better, is not."""

from __future__ import annotations

import json
from pathlib import Path

from bench.guard import compare
from bench.report import Row


def _write(directory: Path, name: str, quick: bool, rows: list[Row]) -> None:
    table = [{"scenario": row.scenario, "figure": row.figure, "polyad": row.polyad,
              "baseline": row.baseline, "baseline_name": row.baseline_name,
              "target": row.target, "met": row.met, "ratio": row.ratio} for row in rows]
    (directory / name).write_text(json.dumps({"quick": quick, "table": table}))


def test_only_what_got_worse_beyond_the_baselines_own_drift_is_named(tmp_path: Path) -> None:
    _write(tmp_path, "2026-12-01T1000.json", False, [
        Row("ceiling", "GET /status req/s", 4000, 10000, "bare", "≥ 0.8x"),
        Row("ceiling", "GET /status p99 ms", 4.0, 2.0, "bare"),
        Row("idle", "peak RSS MB", 64.0),
        Row("tasks", "memory: accepted/s", 5000.0, target="≥ 5,000/s")])
    # a quick run of its own: not a baseline for the next
    _write(tmp_path, "2026-12-02T1000-quick.json", True, [Row("idle", "peak RSS MB", 10.0)])
    now = [
        # the machine is 20 % slower: the bare app too, so the ratio holds
        Row("ceiling", "GET /status req/s", 3200, 8000, "bare", "≥ 0.8x"),
        # the p99 ratio doubled while the baseline moved 20 %: worse
        Row("ceiling", "GET /status p99 ms", 9.6, 2.4, "bare"),
        Row("idle", "peak RSS MB", 66.0),               # within the band
        Row("tasks", "memory: accepted/s", 2000.0, target="≥ 5,000/s"),   # worse
        Row("curves", "new figure", 1.0)]              # nothing to compare with
    regressions, band, compared = compare(now, tmp_path)
    assert round(band, 2) == 0.2          # the baselines' median move
    assert compared == 4
    assert [(found.scenario, found.figure) for found in regressions] == [
        ("ceiling", "GET /status p99 ms"), ("tasks", "memory: accepted/s")]
    assert "2 → 4" in str(regressions[0]) and "+100%" in str(regressions[0])
