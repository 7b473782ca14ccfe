"""Bounded rings of past values per series, fed by every sampler tick: what `GET /history`
and the console's charts read, without a Prometheus.

Two tiers. Every tick's value for `retention` (1 h at 1 s: 3,600 slots), and one slot a minute
(min, mean, max) for `long_retention` (24 h: 1,440 slots). A series is a catalog path and its
labels (`cpu.cores[].usage` of core 3); values are kept as 32-bit floats, and the ticks' times
once for all series. Memory is fixed when a series first appears, so it is bounded by
`max_series`: past it, new series are not kept (said once in the log).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import structlog

from polyad.catalog import MetricSpec, by_path
from polyad.snapshot import Snapshot

__all__ = ["MINUTE_S", "History", "Point", "SeriesKey"]

MINUTE_S = 60.0
NAN = math.nan
FLOAT_BYTES = 4   # array("f")
TIME_BYTES = 8    # array("d")

SeriesKey = tuple[str, tuple[str, ...]]   # (catalog path, label values)
Point = tuple[float, float]               # (unix seconds, value)

log = structlog.get_logger(logger_name="polyad.history")


class _Ring:
    """Times (float64) in a fixed ring; `slot` is where the newest went."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.times = array("d", [NAN]) * capacity
        self.slot = -1

    def advance(self, at_s: float) -> int:
        self.slot = (self.slot + 1) % self.capacity
        self.times[self.slot] = at_s
        return self.slot

    def slots_since(self, since_s: float) -> Iterator[int]:
        """Slots whose time is at or after `since_s`, oldest first."""
        for offset in range(1, self.capacity + 1):
            slot = (self.slot + offset) % self.capacity
            at_s = self.times[slot]
            if not math.isnan(at_s) and at_s >= since_s:
                yield slot


@dataclass
class _Minute:
    """The minute being gathered, for one series."""

    low: float = math.inf
    high: float = -math.inf
    total: float = 0.0
    count: int = 0

    def add(self, value: float) -> None:
        self.low, self.high = min(self.low, value), max(self.high, value)
        self.total += value
        self.count += 1


class _Series:
    def __init__(self, fine: int, coarse: int) -> None:
        self.values = array("f", [NAN]) * fine
        self.low = array("f", [NAN]) * coarse
        self.mean = array("f", [NAN]) * coarse
        self.high = array("f", [NAN]) * coarse
        self.minute = _Minute()

    @staticmethod
    def bytes_for(fine: int, coarse: int) -> int:
        return FLOAT_BYTES * (fine + 3 * coarse)


class History:
    def __init__(self, interval_s: float, retention_s: float, long_retention_s: float,
                 max_series: int, metrics: Iterable[MetricSpec] | None = None) -> None:
        self.interval_s = interval_s
        self.retention_s = retention_s
        self.long_retention_s = long_retention_s
        self._fine = _Ring(max(2, math.ceil(retention_s / interval_s)))
        self._coarse = _Ring(max(2, math.ceil(long_retention_s / MINUTE_S)))
        self._max_series = max_series
        self._metrics = tuple(metrics if metrics is not None else by_path().values())
        self._series: dict[SeriesKey, _Series] = {}
        self._minute_start_s: float | None = None
        self._refused_said = False

    def record(self, snapshot: Snapshot) -> None:
        """A tick's values; a series without one this tick gets a gap (NaN)."""
        at_s = snapshot.taken_at.timestamp()
        minute_s = at_s - at_s % MINUTE_S
        if self._minute_start_s is not None and minute_s > self._minute_start_s:
            self._close_minute(self._minute_start_s)
        self._minute_start_s = minute_s
        slot = self._fine.advance(at_s)
        seen: set[SeriesKey] = set()
        for spec in self._metrics:
            assert spec.path is not None
            for labels, value in spec.readings(snapshot):
                if value is None:
                    continue
                series = self._series_for((spec.path, labels))
                if series is None:
                    continue
                series.values[slot] = value
                series.minute.add(float(value))
                seen.add((spec.path, labels))
        for key, series in self._series.items():
            if key not in seen:
                series.values[slot] = NAN

    def _series_for(self, key: SeriesKey) -> _Series | None:
        series = self._series.get(key)
        if series is None:
            if len(self._series) >= self._max_series:
                if not self._refused_said:
                    self._refused_said = True
                    log.warning("history is full: new series are not kept",
                                max_series=self._max_series, first_left_out=key[0])
                return None
            series = self._series[key] = _Series(self._fine.capacity, self._coarse.capacity)
        return series

    def _close_minute(self, minute_s: float) -> None:
        slot = self._coarse.advance(minute_s)
        for series in self._series.values():
            minute = series.minute
            if minute.count:
                series.low[slot], series.high[slot] = minute.low, minute.high
                series.mean[slot] = minute.total / minute.count
            else:
                series.low[slot] = series.mean[slot] = series.high[slot] = NAN
            series.minute = _Minute()

    # -- reading -------------------------------------------------------------------------
    def points(self, path: str, since_s: float,
               step_s: float) -> list[tuple[tuple[str, ...], list[Point]]]:
        """Every kept series of that path, by its label values: mean values in buckets of
        `step_s` aligned to multiples of it (so series chart together), from `since_s` on;
        empty buckets are left out. Within `retention` from every tick; further back from the
        minutes' means. The window's slots are worked out once for all the series."""
        kept = [(labels, series) for (kept_path, labels), series in self._series.items()
                if kept_path == path]
        if not kept:
            return []
        fine_from_s = self._oldest_fine_s()
        minutes = ([slot for slot in self._coarse.slots_since(since_s - MINUTE_S)
                    if fine_from_s is None or self._coarse.times[slot] < fine_from_s]
                   if fine_from_s is None or since_s < fine_from_s else [])
        ticks = list(self._fine.slots_since(since_s))
        return [(labels, self._points_of(series, minutes, ticks, since_s, step_s))
                for labels, series in kept]

    def _points_of(self, series: _Series, minutes: list[int], ticks: list[int], since_s: float,
                   step_s: float) -> list[Point]:
        points = [(self._coarse.times[slot] + MINUTE_S / 2, series.mean[slot])
                  for slot in minutes]
        points += [(self._fine.times[slot], series.values[slot]) for slot in ticks]
        return _buckets([(at, value) for at, value in points
                         if at >= since_s and not math.isnan(value)], step_s)

    def _oldest_fine_s(self) -> float | None:
        return next((self._fine.times[slot] for slot in self._fine.slots_since(-math.inf)),
                    None)

    def memory_bytes(self) -> int:
        """What the rings take, series and times (Python's object overheads aside)."""
        per_series = _Series.bytes_for(self._fine.capacity, self._coarse.capacity)
        times = TIME_BYTES * (self._fine.capacity + self._coarse.capacity)
        return per_series * len(self._series) + times

    def __len__(self) -> int:
        return len(self._series)


def _buckets(points: Sequence[Point], step_s: float) -> list[Point]:
    """Mean of the points in each step-aligned bucket, stamped with the bucket's start."""
    sums: dict[float, tuple[float, int]] = {}
    for at_s, value in points:
        start = at_s - at_s % step_s
        total, count = sums.get(start, (0.0, 0))
        sums[start] = (total + value, count + 1)
    return [(start, round(total / count, 6)) for start, (total, count) in sorted(sums.items())]
