"""The kernel's own signals, from `host.procfs`: uptime and boot time, context switches and
interrupts, processes running and blocked, file descriptors against their limit, and pressure
stall information (PSI) for CPU, memory and I/O where the kernel has it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field

from polyad.collectors.base import (
    CollectorSpec,
    JsonPiece,
    MetricSpec,
    PieceModel,
    Reading,
    read_file,
    scalar,
)
from polyad.config import CollectorConfig, HostConfig
from polyad.units import format_duration, iso_utc

__all__ = ["SPEC", "Pressure", "SystemCollector", "SystemSample"]

RESOURCES = ("cpu", "memory", "io")


@dataclass(frozen=True, slots=True)
class Pressure:
    """One resource's stall: the share of the last 10 s some (or all) tasks waited on it, in
    percent, and the time they waited since boot. `full` is None where the kernel has no such
    line (CPU before Linux 5.13)."""

    some_avg10: float
    some_total_s: float
    full_avg10: float | None
    full_total_s: float | None


@dataclass(frozen=True, slots=True)
class SystemSample:
    uptime_s: float
    boot_time_s: int                    # Unix time
    context_switches: int
    interrupts: int
    processes_running: int
    processes_blocked: int
    file_descriptors: int | None        # allocated, host-wide
    file_descriptor_limit: int | None
    pressure: dict[str, Pressure]       # by resource; empty where the kernel has no PSI


def _stat_fields(procfs: Path) -> dict[str, str]:
    return {name: value for name, _, value in
            (line.partition(" ") for line in read_file(procfs / "stat").splitlines())}


def _file_descriptors(procfs: Path) -> tuple[int | None, int | None]:
    try:
        allocated, _, limit = read_file(procfs / "sys" / "fs" / "file-nr").split()[:3]
    except (OSError, ValueError):
        return None, None
    return int(allocated), int(limit)


def _pressure(file: Path) -> Pressure | None:
    """`some avg10=1.23 avg60=… avg300=… total=123456` (total in µs), then a `full` line."""
    try:
        lines = {kind: dict(item.split("=") for item in rest.split())
                 for kind, _, rest in (line.partition(" ")
                                       for line in read_file(file).splitlines())}
    except (OSError, ValueError):
        return None
    if "some" not in lines:
        return None
    full = lines.get("full")
    return Pressure(float(lines["some"]["avg10"]), int(lines["some"]["total"]) / 1e6,
                    float(full["avg10"]) if full else None,
                    int(full["total"]) / 1e6 if full else None)


class SystemCollector:
    name = "system"
    no_data: str | None = None

    def __init__(self, procfs: Path = Path("/proc")) -> None:
        self._procfs = procfs

    def collect(self) -> SystemSample:
        stat = _stat_fields(self._procfs)
        allocated, limit = _file_descriptors(self._procfs)
        pressure = {resource: found for resource in RESOURCES
                    if (found := _pressure(self._procfs / "pressure" / resource)) is not None}
        return SystemSample(
            uptime_s=float(read_file(self._procfs / "uptime").split()[0]),
            boot_time_s=int(stat["btime"]), context_switches=int(stat["ctxt"]),
            interrupts=int(stat["intr"].split()[0]),
            processes_running=int(stat["procs_running"]),
            processes_blocked=int(stat["procs_blocked"]),
            file_descriptors=allocated, file_descriptor_limit=limit, pressure=pressure)

    def close(self) -> None:
        pass


# -- what it declares ----------------------------------------------------------------------
class PressureMetrics(PieceModel):
    some_avg10: float = Field(description="Percent of the last 10 s some tasks stalled")
    full_avg10: float | None = Field(description="Percent of the last 10 s all tasks stalled")


class SystemMetrics(PieceModel):
    uptime: str | None = Field(description='Human span since boot, e.g. "3d 4h"')
    uptime_seconds: float | None
    boot_time: str | None = Field(description="ISO 8601 UTC time the host booted")
    context_switches: int | None
    interrupts: int | None
    processes_running: int | None
    processes_blocked: int | None
    file_descriptors: int | None = Field(description="Allocated, host-wide")
    file_descriptor_limit: int | None
    pressure: dict[str, PressureMetrics] = Field(
        description="Pressure stall by resource (cpu, memory, io); empty without kernel PSI")


def _piece(sample: SystemSample | None) -> SystemMetrics:
    if sample is None:
        return SystemMetrics(uptime=None, uptime_seconds=None, boot_time=None,
                             context_switches=None, interrupts=None, processes_running=None,
                             processes_blocked=None, file_descriptors=None,
                             file_descriptor_limit=None, pressure={})
    return SystemMetrics(
        uptime=format_duration(sample.uptime_s), uptime_seconds=sample.uptime_s,
        boot_time=iso_utc(datetime.fromtimestamp(sample.boot_time_s, UTC)),
        context_switches=sample.context_switches, interrupts=sample.interrupts,
        processes_running=sample.processes_running, processes_blocked=sample.processes_blocked,
        file_descriptors=sample.file_descriptors,
        file_descriptor_limit=sample.file_descriptor_limit,
        pressure={resource: PressureMetrics(some_avg10=stall.some_avg10,
                                            full_avg10=stall.full_avg10)
                  for resource, stall in sample.pressure.items()})


def _stalled(sample: SystemSample) -> list[Reading]:
    return [((resource, kind), seconds) for resource, stall in sample.pressure.items()
            for kind, seconds in (("some", stall.some_total_s), ("full", stall.full_total_s))
            if seconds is not None]


def _avg10(resource: str, kind: str) -> Callable[[SystemSample], list[Reading]]:
    def read(sample: SystemSample) -> list[Reading]:
        stall = sample.pressure.get(resource)
        value = None if stall is None else (stall.some_avg10 if kind == "some"
                                            else stall.full_avg10)
        return scalar(value) if stall is not None else []
    return read


_METRICS = (
    MetricSpec("system.uptime", "system.uptime_seconds", "s", "Seconds since the host booted",
               lambda sample: scalar(sample.uptime_s)),
    MetricSpec("polyad.system.context_switches", None, "{switch}",
               "Context switches since boot", lambda sample: scalar(sample.context_switches),
               kind="counter"),
    MetricSpec("polyad.system.interrupts", None, "{interrupt}", "Interrupts since boot",
               lambda sample: scalar(sample.interrupts), kind="counter"),
    MetricSpec("polyad.system.processes.running", "system.processes_running", "{process}",
               "Processes runnable now", lambda sample: scalar(sample.processes_running)),
    MetricSpec("polyad.system.processes.blocked", "system.processes_blocked", "{process}",
               "Processes blocked on I/O now", lambda sample: scalar(sample.processes_blocked)),
    MetricSpec("polyad.system.file_descriptors", "system.file_descriptors",
               "{file_descriptor}", "File descriptors allocated, host-wide",
               lambda sample: scalar(sample.file_descriptors)),
    MetricSpec("polyad.system.file_descriptor_limit", "system.file_descriptor_limit",
               "{file_descriptor}", "The host's limit of file descriptors",
               lambda sample: scalar(sample.file_descriptor_limit)),
    MetricSpec("polyad.system.pressure.stalled", None, "s",
               "Time tasks stalled waiting for the resource (some: at least one, full: all)",
               _stalled, labels=("resource", "kind"), kind="counter"),
    *(MetricSpec(None, f"system.pressure.{resource}.{kind}_avg10", "1",
                 f"Percent of the last 10 s {'some' if kind == 'some' else 'all'} tasks "
                 f"stalled on {resource}", _avg10(resource, kind),
                 promql=(f'sum without (resource, kind) (rate(polyad_system_pressure_stalled_'
                         f'seconds_total{{resource="{resource}",kind="{kind}"}}[1m]))', 0.01))
      for resource in RESOURCES for kind in ("some", "full")),
)


def _build(_: CollectorConfig, host: HostConfig) -> SystemCollector:
    return SystemCollector(host.procfs)


SPEC = CollectorSpec(
    name="system", config=CollectorConfig, build=_build, metrics=_METRICS,
    pieces=(JsonPiece("system", SystemMetrics, _piece),),
    component="system", monitored=("system.processes_running", "system.pressure.cpu.some_avg10",
                                   "system.pressure.memory.some_avg10"))
