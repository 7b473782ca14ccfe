"""Bounded rings of past values per series, fed by every sampler tick: what `GET /history`
and the console's charts read, without a Prometheus.

Two tiers. Every tick's value for `retention` (1 h at 1 s: 3,600 slots; a minute at least),
and one slot a minute (its mean) for `long_retention` (24 h: 1,440 slots), worked out from
the ticks when the minute closes, so a tick only stores its values. A series is a catalog
path and its labels (`cpu.cores[].usage` of core 3); values are kept as 32-bit floats, and the
ticks' times once for all series. Memory is fixed when a series first appears, so it is bounded by
`max_series`: past it, new series are not kept (said once in the log).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Iterator, Sequence

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

    def newest_since(self, since_s: float) -> list[int]:
        """Slots whose time is at or after `since_s`, walking back from the newest."""
        slots = []
        for back in range(self.capacity):
            slot = (self.slot - back) % self.capacity
            if not self.times[slot] >= since_s:     # older, or never written (NaN)
                break
            slots.append(slot)
        return slots

    def slots_since(self, since_s: float) -> Iterator[int]:
        """Slots whose time is at or after `since_s`, oldest first."""
        for offset in range(1, self.capacity + 1):
            slot = (self.slot + offset) % self.capacity
            at_s = self.times[slot]
            if not math.isnan(at_s) and at_s >= since_s:
                yield slot


class _Series:
    def __init__(self, fine: int, coarse: int) -> None:
        self.values = array("f", [NAN]) * fine
        self.mean = array("f", [NAN]) * coarse

    @staticmethod
    def bytes_for(fine: int, coarse: int) -> int:
        return FLOAT_BYTES * (fine + coarse)


class History:
    def __init__(self, interval_s: float, retention_s: float, long_retention_s: float,
                 max_series: int, metrics: Iterable[MetricSpec] | None = None) -> None:
        self.interval_s = interval_s
        self.retention_s = retention_s
        self.long_retention_s = long_retention_s
        # the minute tier is made from the fine ring: it holds a minute's ticks and some
        self._fine = _Ring(max(math.ceil(retention_s / interval_s),
                               math.ceil(MINUTE_S / interval_s) + 2))
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
        for series in self._series.values():     # a gap, unless this tick has a value
            series.values[slot] = NAN
        known = self._series
        for spec in self._metrics:
            assert spec.path is not None
            for labels, value in spec.readings(snapshot):
                if value is None:
                    continue
                kept = known.get((spec.path, labels)) or self._new_series((spec.path, labels))
                if kept is not None:
                    kept.values[slot] = value

    def _new_series(self, key: SeriesKey) -> _Series | None:
        if len(self._series) >= self._max_series:
            if not self._refused_said:
                self._refused_said = True
                log.warning("history is full: new series are not kept",
                            max_series=self._max_series, first_left_out=key[0])
            return None
        series = self._series[key] = _Series(self._fine.capacity, self._coarse.capacity)
        return series

    def _close_minute(self, minute_s: float) -> None:
        """The minute's mean per series, from its ticks (the newest fine slots)."""
        ticks = self._fine.newest_since(minute_s)
        slot = self._coarse.advance(minute_s)
        for series in self._series.values():
            values = [value for tick in ticks if not math.isnan(value := series.values[tick])]
            series.mean[slot] = math.fsum(values) / len(values) if values else NAN

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
