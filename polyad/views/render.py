"""Snapshot → the seed's JSON views; each body is rendered at most once per snapshot."""

from __future__ import annotations

from collections.abc import Callable, Hashable

from polyad import __version__
from polyad.cache import Cache, CacheStats
from polyad.collectors import GpuDevice, Interface, Temperature
from polyad.config import Config
from polyad.health import HealthBoard
from polyad.snapshot import Snapshot
from polyad.units import format_bitrate, format_bytes, format_duration, iso_utc
from polyad.views import schemas

__all__ = ["JsonViews", "metrics_view", "status_view"]


def _human(value: float | None, formatter: Callable[[float], str]) -> str | None:
    return formatter(value) if value is not None else None


def _cpu(snapshot: Snapshot) -> schemas.CpuMetrics:
    cpu, sensors = snapshot.cpu, snapshot.sensors
    load = cpu.load_average if cpu else None
    return schemas.CpuMetrics(
        usage=cpu.usage_percent if cpu else None,
        temperature=sensors.cpu_package_celsius if sensors else None,
        cores=[schemas.CoreMetrics(cpu=index, usage=usage)
               for index, usage in enumerate(cpu.core_usage_percent if cpu else ())],
        load_average=schemas.LoadAverage.model_validate(
            dict(zip(("1m", "5m", "15m"), load, strict=True))
        ) if load else None,
    )


def _memory(snapshot: Snapshot) -> schemas.MemoryMetrics:
    memory = snapshot.memory
    if memory is None:
        return schemas.MemoryMetrics(usage=None, available=None, available_bytes=None, used=None,
                               used_bytes=None, total=None, total_bytes=None,
                               swap_used_bytes=None, swap_total_bytes=None)
    return schemas.MemoryMetrics(
        usage=memory.usage_percent,
        available=format_bytes(memory.available_bytes),
        available_bytes=memory.available_bytes,
        used=format_bytes(memory.used_bytes),
        used_bytes=memory.used_bytes,
        total=format_bytes(memory.total_bytes),
        total_bytes=memory.total_bytes,
        swap_used_bytes=memory.swap_used_bytes,
        swap_total_bytes=memory.swap_total_bytes,
    )


def _gpu_device(device: GpuDevice) -> schemas.GpuDeviceMetrics:
    return schemas.GpuDeviceMetrics(
        index=device.index,
        uuid=device.uuid,
        name=device.name,
        success=device.success,
        error=device.error,
        usage=device.utilization_percent,
        temperature=device.temperature_celsius,
        memory_usage=device.memory_percent,
        memory_used=_human(device.memory_used_bytes, format_bytes),
        memory_used_bytes=device.memory_used_bytes,
        memory_total_bytes=device.memory_total_bytes,
        power_watts=device.power_watts,
        fan_speed=device.fan_percent,
        sm_clock_mhz=device.sm_clock_mhz,
        memory_clock_mhz=device.memory_clock_mhz,
    )


def _gpu(snapshot: Snapshot) -> schemas.GpuMetrics:
    gpu = snapshot.gpu
    devices = gpu.devices if gpu else ()
    return schemas.GpuMetrics(
        usage=gpu.mean_utilization_percent if gpu else None,
        temperature=gpu.hottest_celsius if gpu else None,
        count=len(devices),
        driver_version=gpu.driver_version if gpu else None,
        devices=[_gpu_device(device) for device in devices],
    )


def _interface(nic: Interface) -> schemas.InterfaceMetrics:
    return schemas.InterfaceMetrics(
        name=nic.name,
        upload=_human(nic.upload_bps, format_bitrate),
        upload_bps=nic.upload_bps,
        download=_human(nic.download_bps, format_bitrate),
        download_bps=nic.download_bps,
        bytes_sent=nic.bytes_sent,
        bytes_recv=nic.bytes_recv,
        packets_sent=nic.packets_sent,
        packets_recv=nic.packets_recv,
        errors_in=nic.errors_in,
        errors_out=nic.errors_out,
        drops_in=nic.drops_in,
        drops_out=nic.drops_out,
        speed_bps=nic.speed_bps,
        is_up=nic.is_up,
        is_physical=nic.is_physical,
    )


def _network(snapshot: Snapshot) -> schemas.NetworkMetrics:
    network = snapshot.network
    upload_bps = network.upload_bps if network else None
    download_bps = network.download_bps if network else None
    return schemas.NetworkMetrics(
        upload=_human(upload_bps, format_bitrate),
        upload_bps=upload_bps,
        download=_human(download_bps, format_bitrate),
        download_bps=download_bps,
        interfaces=[_interface(nic) for nic in (network.interfaces if network else ())],
    )


def _temperature(reading: Temperature) -> schemas.TemperatureReading:
    return schemas.TemperatureReading(chip=reading.chip, sensor=reading.sensor,
                                celsius=reading.celsius, high_celsius=reading.high_celsius,
                                critical_celsius=reading.critical_celsius)


def metrics_view(snapshot: Snapshot) -> schemas.MetricsResponse:
    return schemas.MetricsResponse(
        cpu=_cpu(snapshot),
        memory=_memory(snapshot),
        gpu=_gpu(snapshot),
        network=_network(snapshot),
        temperatures=[_temperature(t) for t in snapshot.sensors.temperatures]
        if snapshot.sensors else [],
        collectors=[schemas.CollectorStatus(name=r.name, success=r.ok, outcome=r.outcome,
                                      duration_seconds=r.duration_s, error=r.error,
                                      no_data=r.no_data)
                    for r in snapshot.reports.values()],
        sampled_at=iso_utc(snapshot.taken_at),
    )


def _components(snapshot: Snapshot, config: Config,
                health: HealthBoard) -> dict[str, schemas.ComponentStatus]:
    components = {}
    for name, section in config.collectors:
        report = snapshot.reports.get(name)
        if not section.enabled or report is None:
            components[f"collector.{name}"] = schemas.ComponentStatus(status="disabled")
        else:
            components[f"collector.{name}"] = schemas.ComponentStatus(
                status=report.outcome, detail=report.error or report.no_data)
    for device in snapshot.gpu.devices if snapshot.gpu else ():
        if device.error is not None:
            components[f"gpu.{device.index}"] = schemas.ComponentStatus(status="failed",
                                                                  detail=device.error)
    for name, state in health.components().items():
        components[name] = schemas.ComponentStatus(status="ok" if state.ok else "failed",
                                                   detail=state.detail)
    return components


def status_view(snapshot: Snapshot, config: Config, health: HealthBoard | None = None,
                cache: CacheStats | None = None) -> schemas.StatusResponse:
    cpu, memory, gpu = snapshot.cpu, snapshot.memory, snapshot.gpu
    components = _components(snapshot, config, health or HealthBoard())
    failing = any(c.status in ("failed", "timeout") for c in components.values())
    return schemas.StatusResponse(
        status="degraded" if failing else "running",
        uptime=format_duration(snapshot.uptime_s),
        uptime_seconds=round(snapshot.uptime_s, 3),
        resources=schemas.Resources(
            cpu=cpu.usage_percent if cpu else None,
            memory=memory.usage_percent if memory else None,
            gpu=gpu.mean_utilization_percent if gpu else None,
        ),
        cache=schemas.CacheSummary(size=format_bytes(cache.size_bytes if cache else 0),
                                   size_bytes=cache.size_bytes if cache else 0,
                                   hits=cache.hits if cache else 0,
                                   misses=cache.misses if cache else 0),
        components=components,
        version=__version__,
        started_at=iso_utc(snapshot.started_at),
        sampled_at=iso_utc(snapshot.taken_at),
    )


class JsonViews:
    """Keeps the newest rendered body per view, keyed by the snapshot it came from (and, for
    /status, the health board's and the cache's state, so it is never behind them)."""

    def __init__(self, config: Config, health: HealthBoard, cache: Cache | None = None) -> None:
        self._config = config
        self._health = health
        self._cache = cache
        self._bodies: dict[str, tuple[Hashable, bytes]] = {}

    def metrics(self, snapshot: Snapshot) -> bytes:
        return self._memo("metrics", snapshot.seq, lambda: metrics_view(snapshot))

    def status(self, snapshot: Snapshot) -> bytes:
        cache = self._cache
        version = (snapshot.seq, self._health.version,
                   cache.stats_version() if cache is not None else None)
        return self._memo("status", version, lambda: status_view(
            snapshot, self._config, self._health,
            cache.snapshot_stats() if cache is not None else None))

    def _memo(self, view: str, version: Hashable, build: Callable[[], schemas.Model]) -> bytes:
        cached = self._bodies.get(view)
        if cached is not None and cached[0] == version:
            return cached[1]
        body = build().model_dump_json().encode()
        self._bodies[view] = (version, body)
        return body
