"""CPU utilization, total and per logical core, from the kernel's time counters between samples,
and the load averages."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

from pydantic import ConfigDict, Field

from polyad.collectors.base import (
    PERCENT,
    USER_HZ,
    CollectorSpec,
    JsonPiece,
    MetricSpec,
    PieceModel,
    Reading,
    read_file,
    scalar,
)
from polyad.config import CollectorConfig, HostConfig

__all__ = ["SPEC", "CpuCollector", "CpuSample", "CpuTimes", "read_cpu_times", "read_loadavg"]

MIN_WINDOW_S = 0.25


class CpuTimes(NamedTuple):
    """One logical CPU's seconds in each mode since boot: a `cpuN` line of /proc/stat."""

    user: float
    nice: float
    system: float
    idle: float
    iowait: float = 0.0
    irq: float = 0.0
    softirq: float = 0.0
    steal: float = 0.0
    guest: float = 0.0        # inside user already
    guest_nice: float = 0.0   # inside nice already


# the field → the semantic conventions' `cpu.mode` (guest time is inside user and nice)
_CPU_MODES = {"user": "user", "nice": "nice", "system": "system", "idle": "idle",
              "iowait": "iowait", "irq": "interrupt", "softirq": "softirq", "steal": "steal"}
ModeSeconds = tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class CpuSample:
    usage_percent: float | None
    core_usage_percent: tuple[float | None, ...]
    load_average: tuple[float, float, float] | None
    # per logical CPU, the seconds it spent in each mode since boot: counters, which lose
    # nothing between scrapes (a utilization gauge keeps one tick of fifteen)
    seconds_by_mode: tuple[ModeSeconds, ...] = ()


def read_cpu_times(procfs: Path) -> list[CpuTimes]:
    """`{procfs}/stat`'s `cpuN` lines, in their order, in seconds (the kernel counts USER_HZ
    ticks; older kernels have fewer columns)."""
    cores = []
    for line in read_file(procfs / "stat").splitlines():
        if line.startswith("cpu") and not line.startswith("cpu "):
            ticks = line.split()[1:11]
            cores.append(CpuTimes(*(int(tick) / USER_HZ for tick in ticks)))
    return cores


def read_loadavg(procfs: Path) -> tuple[float, float, float] | None:
    """`{procfs}/loadavg`'s three averages, read from procfs like every other /proc value (psutil
    asks the C library, which no procfs path redirects, so a fixture tree could not drive it);
    None where there is no such file (not Linux)."""
    try:
        one, five, fifteen = (float(field) for field in
                              read_file(procfs / "loadavg").split()[:3])
    except (OSError, ValueError):
        return None
    return round(one, 2), round(five, 2), round(fifteen, 2)


_read_proc_loadavg = partial(read_loadavg, Path("/proc"))
_read_proc_times = partial(read_cpu_times, Path("/proc"))


def _seconds_by_mode(times: CpuTimes) -> ModeSeconds:
    return tuple((mode, getattr(times, name)) for name, mode in _CPU_MODES.items())


def _busy_and_total(times: CpuTimes) -> tuple[float, float]:
    total = sum(times) - times.guest - times.guest_nice
    idle = times.idle + times.iowait
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
        read_times: Callable[[], Sequence[CpuTimes]] = _read_proc_times,
        read_load: Callable[[], tuple[float, float, float] | None] = _read_proc_loadavg,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read_times = read_times
        self._read_load = read_load
        self._clock = clock
        first = read_times()
        self._previous = [_busy_and_total(core) for core in first]
        self._previous_at_s = clock()
        self._modes = tuple(_seconds_by_mode(core) for core in first)
        self._last: CpuSample | None = None

    def collect(self) -> CpuSample:
        now_s = self._clock()
        if now_s - self._previous_at_s < MIN_WINDOW_S:
            # Kernel CPU times move in 10 ms steps: a shorter window (the first tick right after
            # start-up, or a sub-250 ms interval) measures noise. Keep the last real value; there
            # is none yet right after start-up.
            load = self._read_load()
            if self._last is None:
                return CpuSample(None, tuple(None for _ in self._previous), load, self._modes)
            return CpuSample(self._last.usage_percent, self._last.core_usage_percent, load,
                             self._modes)
        times = self._read_times()
        current = [_busy_and_total(core) for core in times]
        self._modes = tuple(_seconds_by_mode(core) for core in times)
        previous, self._previous, self._previous_at_s = self._previous, current, now_s
        if len(previous) != len(current):  # a core went on or off line: start over
            return CpuSample(None, tuple(None for _ in current), self._read_load(), self._modes)
        deltas = [(busy - old_busy, total - old_total)
                  for (busy, total), (old_busy, old_total) in zip(current, previous, strict=True)]
        self._last = CpuSample(
            usage_percent=_percent(sum(b for b, _ in deltas), sum(t for _, t in deltas)),
            core_usage_percent=tuple(_percent(busy, total) for busy, total in deltas),
            load_average=self._read_load(),
            seconds_by_mode=self._modes,
        )
        return self._last

    def close(self) -> None:
        pass


# -- what it declares ----------------------------------------------------------------------
class CoreMetrics(PieceModel):
    cpu: int
    usage: float | None


class LoadAverage(PieceModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)
    one_minute: float = Field(alias="1m")
    five_minutes: float = Field(alias="5m")
    fifteen_minutes: float = Field(alias="15m")


class CpuMetrics(PieceModel):
    usage: float | None = Field(description="Percent of CPU time not idle, all cores")
    cores: list[CoreMetrics]
    load_average: LoadAverage | None


def _piece(sample: CpuSample | None) -> CpuMetrics:
    load = sample.load_average if sample else None
    return CpuMetrics(
        usage=sample.usage_percent if sample else None,
        cores=[CoreMetrics(cpu=index, usage=usage)
               for index, usage in enumerate(sample.core_usage_percent if sample else ())],
        load_average=LoadAverage.model_validate(dict(zip(("1m", "5m", "15m"), load,
                                                         strict=True))) if load else None)


def _load_average(position: int) -> Callable[[CpuSample], list[Reading]]:
    def read(sample: CpuSample) -> list[Reading]:
        return scalar(sample.load_average[position]) if sample.load_average else []
    return read


_METRICS = (
    # The total is JSON only: beside the per-CPU series under the same name it would be counted
    # twice by any sum; Prometheus users average the per-CPU ones.
    MetricSpec(None, "cpu.usage", "1", "Share of CPU time not idle, all logical CPUs together",
               lambda sample: scalar(sample.usage_percent),
               promql=("avg without (cpu_logical_number) (system_cpu_utilization_ratio)",
                       PERCENT)),
    MetricSpec("system.cpu.utilization", "cpu.cores[].usage", "1",
               "Share of CPU time not idle, per logical CPU",
               lambda sample: [((str(index),), usage)
                               for index, usage in enumerate(sample.core_usage_percent)],
               labels=("cpu.logical_number",), otel_scale=PERCENT),
    MetricSpec("system.cpu.time", None, "s", "Seconds each logical CPU spent in each mode",
               lambda sample: [((str(index), mode), seconds)
                               for index, modes in enumerate(sample.seconds_by_mode)
                               for mode, seconds in modes],
               labels=("cpu.logical_number", "cpu.mode"), kind="counter"),
    *(MetricSpec(f"system.cpu.load_average.{span}", f"cpu.load_average.{span}", "{thread}",
                 f"Run-queue length averaged over {span}", _load_average(position))
      for position, span in enumerate(("1m", "5m", "15m"))),
)


def _build(_: CollectorConfig, host: HostConfig) -> CpuCollector:
    return CpuCollector(read_times=partial(read_cpu_times, host.procfs),
                        read_load=partial(read_loadavg, host.procfs))


SPEC = CollectorSpec(
    name="cpu", config=CollectorConfig, build=_build, metrics=_METRICS,
    pieces=(JsonPiece("cpu", CpuMetrics, _piece),),
    resource=lambda sample: sample.usage_percent,
    component="cpu", monitored=("cpu.usage",))
