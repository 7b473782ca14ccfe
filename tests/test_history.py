"""The history rings: what a tick records, how points come back aligned to a step, the minute
tier past the fine one, and the bound on series."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from structlog.testing import capture_logs

from polyad.catalog import by_path
from polyad.collectors.memory import MemorySample
from polyad.history import History, Point
from polyad.snapshot import Snapshot
from tests.fakes.samples import GIB, full_snapshot, with_sample

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)   # on a minute


def at(snapshot: Snapshot, seconds: float, memory_percent: float | None = None) -> Snapshot:
    moved = replace(snapshot, taken_at=T0 + timedelta(seconds=seconds))
    if memory_percent is None:
        return moved
    return with_sample(moved, "memory", MemorySample(16 * GIB, 8 * GIB, 8 * GIB, memory_percent,
                                                     0, 0))


def memory(history: History, since_s: float, step_s: float) -> list[Point]:
    """The memory.usage series' points (it has no labels)."""
    return dict(history.points("memory.usage", since_s, step_s)).get((), [])


def memory_only(retention_s: float = 60.0) -> History:
    return History(interval_s=1.0, retention_s=retention_s, long_retention_s=600.0,
                   max_series=100, metrics=[by_path()["memory.usage"]])


def test_points_are_means_over_step_aligned_buckets() -> None:
    history = memory_only()
    for second, percent in enumerate([10.0, 20.0, 30.0, 40.0, 50.0, 60.0]):
        history.record(at(full_snapshot(), 3 + second, percent))   # ticks at :03 … :08
    start = T0.timestamp()
    assert memory(history, start, 5.0) == [(start, 15.0), (start + 5, 45.0)]
    assert memory(history, start + 6, 1.0) == [
        (start + 6, 40.0), (start + 7, 50.0), (start + 8, 60.0)]


def test_a_tick_without_a_value_is_a_gap_not_a_zero() -> None:
    history = memory_only()
    history.record(at(full_snapshot(), 0, 50.0))
    without = full_snapshot()
    without = replace(without, samples={name: sample for name, sample in without.samples.items()
                                        if name != "memory"})
    history.record(at(without, 1))
    history.record(at(full_snapshot(), 2, 70.0))
    start = T0.timestamp()
    assert memory(history, start, 1.0) == [(start, 50.0), (start + 2, 70.0)]


def test_past_the_fine_ring_the_minutes_means_answer() -> None:
    history = memory_only(retention_s=60.0)
    for second in range(0, 300, 1):                 # five minutes at 1 s: 1 % per minute up
        history.record(at(full_snapshot(), second, 10.0 + second // 60))
    start = T0.timestamp()
    minutes = memory(history, start, 60.0)
    # minutes 0-3 from the minute ring (10, 11, 12, 13); minute 4 from the last 60 ticks
    assert minutes == [(start + 60 * n, 10.0 + n) for n in range(5)]


def test_every_catalog_path_and_its_devices_are_series() -> None:
    history = History(interval_s=1.0, retention_s=60.0, long_retention_s=600.0, max_series=500)
    history.record(at(full_snapshot(), 0))
    start = T0.timestamp()
    cores = history.points("cpu.cores[].usage", start, 1.0)
    assert [labels for labels, _ in cores] == [("0",), ("1",)]
    assert [labels for labels, _ in history.points("filesystem.mounts[].usage", start, 1.0)] == [
        ("/dev/nvme0n1p1", "/", "ext4"), ("/dev/sdb1", "/mnt/backup", "ext4")]  # not the stale
    assert dict(cores)[("1",)] == [(start, 40.0)]


def test_series_past_the_bound_are_left_out_and_said_once() -> None:
    history = History(interval_s=1.0, retention_s=60.0, long_retention_s=600.0, max_series=3)
    with capture_logs() as logs:
        history.record(at(full_snapshot(), 0))
        history.record(at(full_snapshot(), 1))
    assert len(history) == 3
    assert [log["event"] for log in logs] == ["history is full: new series are not kept"]


def test_memory_is_fixed_by_the_series_and_the_retention() -> None:
    history = History(interval_s=1.0, retention_s=3600.0, long_retention_s=86400.0,
                      max_series=250)
    history.record(at(full_snapshot(), 0))
    series = len(history)
    # 3,600 ticks and 1,440 minutes' means of 4-byte floats per series
    per_series = 4 * (3600 + 1440)
    assert history.memory_bytes() == series * per_series + 8 * (3600 + 1440)
    assert 250 * per_series < 5 * 1024 * 1024    # the bound at the defaults: under 5 MB
    assert not math.isnan(memory(history, T0.timestamp(), 1.0)[0][1])


def test_a_minute_is_the_mean_of_its_ticks_gaps_left_out_even_with_a_short_retention() -> None:
    history = memory_only(retention_s=10.0)     # the fine ring still holds a whole minute
    for second in range(0, 180):
        # minute 0: 0 and 20 alternating, every third tick a gap; minute 1: none at all
        percent = None if second % 3 == 2 or 60 <= second < 120 else 20.0 * (second % 2)
        snapshot = at(full_snapshot(), second, percent)
        if percent is None:
            snapshot = replace(snapshot, samples={name: sample for name, sample
                                                  in snapshot.samples.items()
                                                  if name != "memory"})
        history.record(snapshot)
    start = T0.timestamp()
    kept = [value for second in range(60) if second % 3 != 2 for value in [20.0 * (second % 2)]]
    assert memory(history, start, 60.0) == [(start, round(sum(kept) / len(kept), 6)),
                                            (start + 120, 10.0)]
