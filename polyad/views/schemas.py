"""Response and request bodies, as pydantic models: the views build them, the API sends and
reads them, OpenAPI shows them.

Field names follow the seed API document; numeric siblings (`*_bytes`, `*_bps`, `*_seconds`) sit
beside its human strings. A value the host cannot give is null.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AlertList",
    "AlertView",
    "CacheCleared",
    "CacheStats",
    "CacheSummary",
    "Health",
    "MetricsResponse",
    "Problem",
    "Readiness",
    "RulesReloaded",
    "StatusResponse",
    "TaskAccepted",
    "TaskList",
    "TaskRequest",
    "TaskView",
]

Percent = float | None


class Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class CoreMetrics(Model):
    cpu: int
    usage: Percent


class LoadAverage(Model):
    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)
    one_minute: float = Field(alias="1m")
    five_minutes: float = Field(alias="5m")
    fifteen_minutes: float = Field(alias="15m")


class CpuMetrics(Model):
    usage: Percent = Field(description="Percent of CPU time not idle, all cores")
    temperature: float | None = Field(description="CPU package temperature, °C")
    cores: list[CoreMetrics]
    load_average: LoadAverage | None


class MemoryMetrics(Model):
    usage: Percent
    available: str | None = Field(description='Human size, e.g. "8GB"')
    available_bytes: int | None
    used: str | None
    used_bytes: int | None
    total: str | None
    total_bytes: int | None
    swap_used_bytes: int | None
    swap_total_bytes: int | None


class GpuDeviceMetrics(Model):
    index: int
    uuid: str
    name: str
    success: bool = Field(description="False when the device failed to answer (e.g. GPU lost)")
    error: str | None
    usage: Percent
    temperature: float | None
    memory_usage: Percent
    memory_used: str | None
    memory_used_bytes: int | None
    memory_total_bytes: int | None
    power_watts: float | None
    fan_speed: Percent
    sm_clock_mhz: float | None
    memory_clock_mhz: float | None


class GpuMetrics(Model):
    usage: Percent = Field(description="Mean utilization of all GPUs; null without a GPU")
    temperature: float | None = Field(description="Hottest GPU, °C; null without a GPU")
    count: int
    driver_version: str | None
    devices: list[GpuDeviceMetrics]


class InterfaceMetrics(Model):
    name: str
    upload: str | None = Field(description='Human rate, e.g. "1Mbps"')
    upload_bps: float | None
    download: str | None
    download_bps: float | None
    bytes_sent: int
    bytes_recv: int
    packets_sent: int
    packets_recv: int
    errors_in: int
    errors_out: int
    drops_in: int
    drops_out: int
    speed_bps: int | None
    is_up: bool | None
    is_physical: bool | None = Field(description="Backed by a device; only these count in the "
                                     "totals when the host says which they are")


class NetworkMetrics(Model):
    upload: str | None = Field(description="All external interfaces; null before two samples")
    upload_bps: float | None
    download: str | None
    download_bps: float | None
    interfaces: list[InterfaceMetrics]


class TemperatureReading(Model):
    chip: str
    sensor: str
    celsius: float
    high_celsius: float | None
    critical_celsius: float | None


class CollectorStatus(Model):
    name: str
    success: bool
    outcome: Literal["ok", "failed", "timeout"]
    duration_seconds: float
    error: str | None
    no_data: str | None = Field(description="Why this host gives nothing here (e.g. no GPU)")


class MetricsResponse(Model):
    cpu: CpuMetrics
    memory: MemoryMetrics
    gpu: GpuMetrics
    network: NetworkMetrics
    temperatures: list[TemperatureReading]
    collectors: list[CollectorStatus]
    sampled_at: str = Field(description="ISO 8601 UTC time of the sample")


class Resources(Model):
    cpu: Percent
    memory: Percent
    gpu: Percent


class CacheSummary(Model):
    size: str
    size_bytes: int
    hits: int
    misses: int


class ComponentStatus(Model):
    status: Literal["ok", "failed", "timeout", "disabled"]
    detail: str | None = Field(default=None, description="The error, or why there is no data")


class StatusResponse(Model):
    status: Literal["running", "degraded"]
    uptime: str = Field(description='Human span, e.g. "1h 30m"')
    uptime_seconds: float
    resources: Resources
    cache: CacheSummary
    components: dict[str, ComponentStatus]
    version: str
    started_at: str
    sampled_at: str


class CacheStats(Model):
    size: str = Field(description='Human size of what the cache holds, e.g. "1.2GB" (for '
                      "redis, the server's used memory)")
    size_bytes: int
    hits: int
    misses: int
    hit_rate: float = Field(description="Percent of lookups that found a value; 0 before any")
    evictions: int
    last_cleanup: str | None = Field(description="ISO 8601 UTC of the last expiry sweep")
    entries: int
    max_size_bytes: int | None = Field(description="The memory bound; null for redis")
    backend: Literal["memory", "redis"] = Field(description="The store serving now")


class AlertView(Model):
    name: str
    state: Literal["pending", "firing"]
    value: float = Field(description="The metric's value at the last evaluation, in its unit")
    labels: dict[str, str]
    annotations: dict[str, str]
    active_at: str = Field(description="ISO 8601 UTC: since when the condition holds")
    fired_at: str | None = Field(description="ISO 8601 UTC: when it began firing")
    rule: str = Field(description="Where the rule is written (file:line)")


class AlertList(Model):
    alerts: list[AlertView]


class RulesReloaded(Model):
    status: Literal["reloaded"]
    groups: int
    rules: int


class CacheCleared(Model):
    cleared: int = Field(description="How many entries were removed")


class TaskRequest(Model):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    type: str = Field(description="Task family: system, vision, audio, …",
                      pattern=r"^[a-z][a-z0-9_]{0,63}$")
    action: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    data: dict[str, Any] = Field(default_factory=dict)
    priority: Literal["low", "normal", "high"] = "normal"


class TaskAccepted(Model):
    task_id: str
    status: Literal["accepted"]
    estimated_time: str
    estimated_seconds: float
    priority: Literal["low", "normal", "high"]


class TaskError(Model):
    type: str
    message: str


class TaskView(Model):
    task_id: str
    type: str
    action: str
    priority: Literal["low", "normal", "high"]
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    created_at: str
    started_at: str | None
    finished_at: str | None
    progress: float = Field(ge=0, le=1)
    result: Any = None
    error: TaskError | None
    from_cache: bool
    attempts: int
    estimated_seconds: float


class TaskList(Model):
    tasks: list[TaskView]


class Health(Model):
    status: Literal["ok"]


class Readiness(Model):
    status: Literal["ready", "not ready"]
    detail: str | None = None
    snapshot_age_seconds: float | None


class Problem(Model):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = Field(default=None, description="Quote it when reporting a problem")
    errors: list[dict[str, Any]] | None = None
