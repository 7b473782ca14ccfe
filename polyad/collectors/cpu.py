"""CPU utilization, total and per logical core, from the kernel's time counters between samples."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psutil

__all__ = ["CpuCollector", "CpuSample", "read_loadavg"]

# Linux counts guest time inside user and nice already.
_COUNTED_TWICE = ("guest", "guest_nice")
_IDLE = ("idle", "iowait")
MIN_WINDOW_S = 0.25


@dataclass(frozen=True, slots=True)
class CpuSample:
    usage_percent: float | None
    core_usage_percent: tuple[float | None, ...]
    load_average: tuple[float, float, float] | None


def _read_times() -> Sequence[Any]:
    return psutil.cpu_times(percpu=True)


def read_loadavg(procfs: Path) -> tuple[float, float, float] | None:
    """`{procfs}/loadavg`'s three averages, read from procfs like every other /proc value (psutil
    asks the C library, which no procfs path redirects, so a fixture tree could not drive it);
    None where there is no such file (not Linux)."""
    try:
        one, five, fifteen = (float(field) for field in
                              (procfs / "loadavg").read_text().split()[:3])
    except (OSError, ValueError):
        return None
    return round(one, 2), round(five, 2), round(fifteen, 2)


_read_proc_loadavg = partial(read_loadavg, Path("/proc"))


def _busy_and_total(times: Any) -> tuple[float, float]:
    fields = times._asdict()
    total = sum(fields.values()) - sum(fields.get(name, 0.0) for name in _COUNTED_TWICE)
    idle = sum(fields.get(name, 0.0) for name in _IDLE)
    return total - idle, total


def _percent(busy_s: float, total_s: float) -> float | None:
    if total_s <= 0:
        return None
    return round(min(100.0, max(0.0, 100.0 * busy_s / total_s)), 1)


class CpuCollector:
    name = "cpu"
    no_data: str | None = None

    def __init__(
        self,
        read_times: Callable[[], Sequence[Any]] = _read_times,
        read_load: Callable[[], tuple[float, float, float] | None] = _read_proc_loadavg,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read_times = read_times
        self._read_load = read_load
        self._clock = clock
        self._previous = [_busy_and_total(core) for core in read_times()]
        self._previous_at_s = clock()
        self._last: CpuSample | None = None

    def collect(self) -> CpuSample:
        now_s = self._clock()
        if now_s - self._previous_at_s < MIN_WINDOW_S:
            # Kernel CPU times move in 10 ms steps: a shorter window (the first tick right after
            # start-up, or a sub-250 ms interval) measures noise. Keep the last real value; there
            # is none yet right after start-up.
            load = self._read_load()
            if self._last is None:
                return CpuSample(None, tuple(None for _ in self._previous), load)
            return CpuSample(self._last.usage_percent, self._last.core_usage_percent, load)
        current = [_busy_and_total(core) for core in self._read_times()]
        previous, self._previous, self._previous_at_s = self._previous, current, now_s
        if len(previous) != len(current):  # a core went on or off line: start over
            return CpuSample(None, tuple(None for _ in current), self._read_load())
        deltas = [(busy - old_busy, total - old_total)
                  for (busy, total), (old_busy, old_total) in zip(current, previous, strict=True)]
        self._last = CpuSample(
            usage_percent=_percent(sum(b for b, _ in deltas), sum(t for _, t in deltas)),
            core_usage_percent=tuple(_percent(busy, total) for busy, total in deltas),
            load_average=self._read_load(),
        )
        return self._last

    def close(self) -> None:
        pass
