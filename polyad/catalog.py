"""The metric catalog: every metric declared once.

A spec names the value's path in the `GET /metrics` JSON (what alert rules refer to), the
OpenTelemetry instrument it feeds (what `/metrics/prom` shows), its unit and how to read it from a
Snapshot. `[]` in a path means one value per device, told apart by the spec's labels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from polyad.snapshot import Snapshot

__all__ = ["CATALOG", "MetricSpec", "Reading", "by_path"]

Reading = tuple[tuple[str, ...], float | None]  # (label values, value in the JSON's unit)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    otel_name: str | None          # None: JSON only (an aggregate Prometheus users compute)
    path: str | None               # None: exposition only (a counter alerts would not use)
    unit: str                      # UCUM, as OpenTelemetry writes it: "1", "By", "Cel", "W", "Hz"
    description: str
    read: Callable[[Snapshot], Iterable[Reading]]
    labels: tuple[str, ...] = ()
    kind: Literal["gauge", "counter"] = "gauge"
    otel_scale: float = 1.0        # instrument value = JSON value * otel_scale (% → ratio)


def _scalar(value: float | None) -> list[Reading]:
    return [((), value)]


def _load_average(position: int) -> Callable[[Snapshot], Iterable[Reading]]:
    def read(snapshot: Snapshot) -> Iterable[Reading]:
        load = snapshot.cpu.load_average if snapshot.cpu else None
        return _scalar(load[position]) if load else []
    return read


PERCENT = 0.01
MHZ = 1e6

_CPU = [
    MetricSpec("system.cpu.utilization", "cpu.usage", "1",
               "Share of CPU time not idle, all logical CPUs together",
               lambda s: _scalar(s.cpu.usage_percent) if s.cpu else [], otel_scale=PERCENT),
    MetricSpec("system.cpu.core.utilization", "cpu.cores[].usage", "1",
               "Share of CPU time not idle, per logical CPU",
               lambda s: [((str(i),), v) for i, v in enumerate(s.cpu.core_usage_percent)]
               if s.cpu else [], labels=("cpu",), otel_scale=PERCENT),
    *(MetricSpec(f"system.cpu.load_average.{span}", f"cpu.load_average.{span}", "{thread}",
                 f"Run-queue length averaged over {span}", _load_average(i))
      for i, span in enumerate(("1m", "5m", "15m"))),
    MetricSpec("hw.cpu.temperature", "cpu.temperature", "Cel",
               "CPU package temperature, where the host has a sensor for it",
               lambda s: _scalar(s.sensors.cpu_package_celsius) if s.sensors else []),
]

_MEMORY = [
    MetricSpec("system.memory.utilization", "memory.usage", "1",
               "Share of physical memory not available to new processes",
               lambda s: _scalar(s.memory.usage_percent) if s.memory else [], otel_scale=PERCENT),
    MetricSpec("system.linux.memory.available", "memory.available_bytes", "By",
               "Memory available to new processes without swapping",
               lambda s: _scalar(s.memory.available_bytes) if s.memory else []),
    MetricSpec("system.memory.usage", "memory.used_bytes", "By",
               "Physical memory in use (total minus available)",
               lambda s: _scalar(s.memory.used_bytes) if s.memory else []),
    MetricSpec("system.memory.limit", "memory.total_bytes", "By", "Physical memory installed",
               lambda s: _scalar(s.memory.total_bytes) if s.memory else []),
    MetricSpec("system.paging.usage", "memory.swap_used_bytes", "By", "Swap space in use",
               lambda s: _scalar(s.memory.swap_used_bytes) if s.memory else []),
    MetricSpec("system.paging.limit", "memory.swap_total_bytes", "By", "Swap space configured",
               lambda s: _scalar(s.memory.swap_total_bytes) if s.memory else []),
]


def _gpu_field(field: str) -> Callable[[Snapshot], Iterable[Reading]]:
    def read(snapshot: Snapshot) -> Iterable[Reading]:
        devices = snapshot.gpu.devices if snapshot.gpu else ()
        return [((str(d.index), d.uuid), getattr(d, field)) for d in devices]
    return read


def _gpu(otel_name: str, path: str, unit: str, description: str, field: str,
         otel_scale: float = 1.0) -> MetricSpec:
    return MetricSpec(otel_name, f"gpu.devices[].{path}", unit, description, _gpu_field(field),
                      labels=("gpu", "uuid"), otel_scale=otel_scale)


_GPU = [
    MetricSpec(None, "gpu.usage", "1", "Mean utilization of all GPUs",
               lambda s: _scalar(s.gpu.mean_utilization_percent) if s.gpu else []),
    MetricSpec(None, "gpu.temperature", "Cel", "Temperature of the hottest GPU",
               lambda s: _scalar(s.gpu.hottest_celsius) if s.gpu else []),
    _gpu("polyad.gpu.success", "success", "1", "1 when the GPU answered this tick, else 0",
         "success"),
    _gpu("hw.gpu.utilization", "usage", "1", "Share of time a kernel ran on the GPU",
         "utilization_percent", PERCENT),
    _gpu("hw.gpu.memory.usage", "memory_used_bytes", "By", "GPU memory in use",
         "memory_used_bytes"),
    _gpu("hw.gpu.memory.limit", "memory_total_bytes", "By", "GPU memory installed",
         "memory_total_bytes"),
    _gpu("hw.gpu.memory.utilization", "memory_usage", "1", "Share of GPU memory in use",
         "memory_percent", PERCENT),
    _gpu("hw.gpu.temperature", "temperature", "Cel", "GPU core temperature",
         "temperature_celsius"),
    _gpu("hw.gpu.power", "power_watts", "W", "GPU power draw", "power_watts"),
    _gpu("hw.gpu.fan.speed", "fan_speed", "1", "GPU fan speed as a share of its maximum",
         "fan_percent", PERCENT),
    _gpu("hw.gpu.clock.sm", "sm_clock_mhz", "Hz", "GPU streaming-multiprocessor clock",
         "sm_clock_mhz", MHZ),
    _gpu("hw.gpu.clock.memory", "memory_clock_mhz", "Hz", "GPU memory clock",
         "memory_clock_mhz", MHZ),
]

_SENSORS = [
    MetricSpec("hw.temperature", "temperatures[].celsius", "Cel", "Hardware sensor temperature",
               lambda s: [((t.chip, t.sensor), t.celsius) for t in s.sensors.temperatures]
               if s.sensors else [], labels=("chip", "sensor")),
]


def _nic_directions(sent: str, received: str) -> Callable[[Snapshot], Iterable[Reading]]:
    def read(snapshot: Snapshot) -> Iterable[Reading]:
        interfaces = snapshot.network.interfaces if snapshot.network else ()
        return [((nic.name, direction), getattr(nic, field))
                for nic in interfaces
                for direction, field in (("transmit", sent), ("receive", received))]
    return read


def _nic_field(field: str) -> Callable[[Snapshot], Iterable[Reading]]:
    def read(snapshot: Snapshot) -> Iterable[Reading]:
        interfaces = snapshot.network.interfaces if snapshot.network else ()
        return [((nic.name,), getattr(nic, field)) for nic in interfaces]
    return read


_NETWORK = [
    MetricSpec(None, "network.upload_bps", "bit/s", "Bits sent per second, all external NICs",
               lambda s: _scalar(s.network.upload_bps) if s.network else []),
    MetricSpec(None, "network.download_bps", "bit/s",
               "Bits received per second, all external NICs",
               lambda s: _scalar(s.network.download_bps) if s.network else []),
    MetricSpec(None, "network.interfaces[].upload_bps", "bit/s", "Bits sent per second",
               _nic_field("upload_bps"), labels=("device",)),
    MetricSpec(None, "network.interfaces[].download_bps", "bit/s", "Bits received per second",
               _nic_field("download_bps"), labels=("device",)),
    MetricSpec("system.network.io", None, "By", "Bytes moved by the interface",
               _nic_directions("bytes_sent", "bytes_recv"), labels=("device", "direction"),
               kind="counter"),
    MetricSpec("system.network.packets", None, "{packet}", "Packets moved by the interface",
               _nic_directions("packets_sent", "packets_recv"), labels=("device", "direction"),
               kind="counter"),
    MetricSpec("system.network.errors", None, "{error}", "Receive and transmit errors",
               _nic_directions("errors_out", "errors_in"), labels=("device", "direction"),
               kind="counter"),
    MetricSpec("system.network.dropped", None, "{packet}", "Packets dropped",
               _nic_directions("drops_out", "drops_in"), labels=("device", "direction"),
               kind="counter"),
    MetricSpec("system.network.link.speed", "network.interfaces[].speed_bps", "By/s",
               "Link speed the driver reports", _nic_field("speed_bps"), labels=("device",),
               otel_scale=1 / 8),  # exposed in bytes, the base unit, as node_exporter does
]

_AGENT = [
    MetricSpec("polyad.collector.success", "collectors[].success", "1",
               "1 when the collector answered in the last tick, else 0",
               lambda s: [((r.name,), 1.0 if r.ok else 0.0) for r in s.reports.values()],
               labels=("collector",)),
    MetricSpec("polyad.collector.duration", "collectors[].duration_seconds", "s",
               "Time the collector took in the last tick",
               lambda s: [((r.name,), r.duration_s) for r in s.reports.values()],
               labels=("collector",)),
    MetricSpec("polyad.uptime", None, "s", "Seconds since the agent started",
               lambda s: _scalar(s.uptime_s), kind="counter"),
]


CATALOG: tuple[MetricSpec, ...] = (*_CPU, *_MEMORY, *_GPU, *_SENSORS, *_NETWORK, *_AGENT)


def by_path() -> dict[str, MetricSpec]:
    return {spec.path: spec for spec in CATALOG if spec.path is not None}
