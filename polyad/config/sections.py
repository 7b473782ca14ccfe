"""The configuration model's sections: each is a small class; `Config` gathers them."""

from __future__ import annotations

import functools
import socket
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from yarl import URL

from polyad.config.alerting import AlertsConfig, NotifiersConfig
from polyad.config.base import Bytes, Seconds, SecondsOrZero, Section
from polyad.config.security import AuthConfig, CorsConfig, RateLimitConfig, RedisConfig

__all__ = ["CacheConfig", "CollectorConfig", "CollectorsConfig", "Config", "EventsConfig",
           "HistoryConfig",
           "HostConfig",
           "LoggingConfig", "ServerConfig", "ServerTlsConfig", "TasksConfig"]


class ServerTlsConfig(Section):
    """HTTPS on the agent's port: its certificate (the chain, leaf first) and key, re-read on
    SIGHUP and when the files change; with `client_ca_file`, client certificates signed by that
    CA are required (mTLS)."""

    cert_file: Path | None = None
    """The agent's certificate chain (PEM, leaf first): HTTPS on its port when set."""
    key_file: Path | None = None
    """Its private key (PEM), this user's alone (mode 0600)."""
    client_ca_file: Path | None = None
    """Clients must show a certificate signed by this CA (mutual TLS)."""
    min_version: Literal["1.2", "1.3"] = "1.2"
    """The oldest TLS version accepted."""

    @model_validator(mode="after")
    def _pair(self) -> ServerTlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        if self.client_ca_file is not None and self.cert_file is None:
            raise ValueError("client_ca_file needs cert_file and key_file (TLS first)")
        return self

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


class ServerConfig(Section):
    host: str = "127.0.0.1"
    """Address to listen on; a non-loopback one needs auth on."""
    port: int = Field(default=5000, ge=0, le=65535)
    """Port to listen on."""
    max_body: Bytes = 1024 * 1024
    """A larger request body is refused with 413."""
    # A request's headers, and then its body, must each arrive within this: a client that
    # trickles them a byte at a time cannot hold a connection (see api/protocol.py).
    read_timeout: Seconds = 10.0
    """A request's headers, then its body, must each arrive within this (408)."""
    # Connections held at once; past it a new one gets a 503 and is closed, never queued.
    max_connections: int = Field(default=1024, ge=1, le=1_000_000)
    """Connections held at once; past it a new one gets 503 and is closed."""
    tls: ServerTlsConfig = ServerTlsConfig()
    event_loop: Literal["asyncio", "uvloop"] = "asyncio"
    """The event loop: Python's own, or uvloop (install polyad[fast]): about a tenth less CPU
    per request, measured (docs/performance.md)."""

    def url(self, host: str | None = None, port: int | None = None) -> str:
        """Where a client reaches the agent (by default at `host` and `port`): https with
        `tls`, an IPv6 address in brackets."""
        host = self.host if host is None else host
        port = self.port if port is None else port
        scheme = "https" if self.tls.enabled else "http"
        return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


class SamplerConfig(Section):
    interval: Annotated[Seconds, Field(ge=0.1)] = 1.0
    """One sample of the host per interval."""
    # A collector that has not answered by then is marked failed for the tick.
    collector_timeout: Seconds | None = None
    """A collector not done by then is marked timed out for the tick (default: 0.8 x the
    interval, at most 5 s)."""

    @field_validator("collector_timeout")
    @classmethod
    def _within_interval(cls, timeout_s: float | None, info: ValidationInfo) -> float | None:
        interval_s = info.data.get("interval")
        if timeout_s is not None and interval_s is not None and timeout_s >= interval_s:
            raise ValueError(f"expected less than the interval ({interval_s:g}s)")
        return timeout_s

    @property
    def collector_timeout_s(self) -> float:
        return self.collector_timeout or min(self.interval * 0.8, 5.0)


class HostConfig(Section):
    """Where the watched host's filesystems are, as node_exporter's --path.procfs, --path.sysfs
    and --path.rootfs: in a container with the host's mounted read-only (e.g. /host/proc), the
    agent reports the host, not its container; tests point them at fixture trees."""

    procfs: Path = Path("/proc")
    """The watched host's /proc (node_exporter's --path.procfs), e.g. /host/proc in a container."""
    sysfs: Path = Path("/sys")
    """The watched host's /sys."""
    rootfs: Path = Path("/")
    """The watched host's root filesystem, for the filesystem collector."""

    @field_validator("procfs", "sysfs", "rootfs")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        if not path.is_absolute():
            raise ValueError(f"expected an absolute path, got {str(path)!r}")
        return path


class CollectorConfig(Section):
    """A collector's section, `collectors.<name>`: each collector declares its own (with its
    options and whether it is on by default) in its module."""

    enabled: bool = True
    """Run this collector."""


class CollectorsConfig(Section):
    """One section per registered collector; the fields are the registry's, added when a
    config is read (see `_collector_sections`)."""

    def sections(self) -> dict[str, CollectorConfig]:
        return {name: getattr(self, name) for name in type(self).model_fields}

    def section(self, name: str) -> CollectorConfig:
        return self.sections()[name]


def _collector_sections(raw: Any) -> Any:
    # Imported here, not above: collectors import this package for their sections, and declare
    # them; the table exists once they are imported.
    from polyad.collectors.registry import section_models

    return _sections_model(tuple(section_models().items())).model_validate(raw)


@functools.cache
def _sections_model(models: tuple[tuple[str, type[CollectorConfig]], ...]
                    ) -> type[CollectorsConfig]:
    fields: dict[str, Any] = {name: (model, Field(default_factory=model))
                              for name, model in models}
    return create_model("CollectorsConfig", __base__=CollectorsConfig, **fields)


class AgingConfig(Section):
    """How long a task of each priority is treated as having waited less (see tasks/store.py)."""

    high: SecondsOrZero = 0.0
    """How long a queued high-priority task counts as having waited already."""
    normal: SecondsOrZero = 30.0
    """The same for normal priority: a task ages ahead of a higher one queued this much later."""
    low: SecondsOrZero = 60.0
    """The same for low priority."""


class TasksConfig(Section):
    backend: Literal["memory", "redis"] = "memory"
    """Where tasks are queued: in memory (lost on a stop), or in Redis (they outlive the agent)."""
    workers: int = Field(default=4, ge=1, le=256)
    """Tasks run at once by this agent."""
    max_queued: int = Field(default=10_000, ge=1, le=1_000_000)
    """Past this many waiting tasks, a submission gets 503."""
    retention: Seconds = 3600.0
    """Finished tasks are kept this long for GET /task and /tasks."""
    max_records: int = Field(default=10_000, ge=1, le=1_000_000)
    """At most this many task records are kept."""
    idempotency_ttl: Annotated[Seconds, Field(le=30 * 86400)] = 86400.0
    """A submission's Idempotency-Key names its task this long (a retry gets that task)."""
    aging: AgingConfig = AgingConfig()
    shutdown_grace: SecondsOrZero = 10.0
    """On stop, running tasks may finish within this; the rest are handed back (redis) or
    cancelled."""
    # The redis backend's own settings (see tasks/redis_store.py):
    agent_id: str = Field(default_factory=socket.gethostname, min_length=1, max_length=128,
                          pattern=r"^[A-Za-z0-9_.:-]+$")   # names this host's own queue
    """Names this host's own task queue on a shared Redis."""
    lease: Annotated[Seconds, Field(ge=1)] = 15.0
    """Redis: a task whose agent stops renewing it for this long is taken over."""
    max_attempts: int = Field(default=3, ge=1, le=100)
    """Redis: a task started this many times (its agents died) fails as abandoned."""


class CacheConfig(Section):
    backend: Literal["memory", "redis"] = "memory"
    """memory (an LRU in this process) or redis (shared by every agent on it)."""
    # Bytes of stored values (their JSON), in this process: the memory backend, and the redis
    # backend's fallback while Redis is down. Keys and bookkeeping come on top.
    max_size: Bytes = 256 * 1024**2
    """Bytes of stored values in this process (the memory backend, and redis' fallback)."""
    ttl: Seconds = 300.0
    """An entry's lifetime unless its writer says otherwise."""
    cleanup_interval: Seconds = 60.0
    """Expired entries are swept this often."""


class LoggingConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    """The least severe level logged; below info, requests are not logged."""
    format: Literal["json", "console"] = "json"
    """json (one object a line) or console (for people)."""

    @property
    def logs_requests(self) -> bool:
        """The access log is at level info: above it, no line is even built (that was 7% of a
        GET /status's CPU at level warning, through structlog's lazy logger proxy)."""
        return self.level in ("debug", "info")


class HistoryConfig(Section):
    """Past values in the agent's memory, for GET /history and the console's charts: every
    tick's for `retention`, a minute's mean for `long_retention`. At most `max_series`
    series are kept (a series: a metric path and its labels, e.g. one core's usage), about
    20 KB each at the defaults and a 1 s tick: 5 MB at most."""

    enabled: bool = True
    """Keep past values for GET /history and the console's charts."""
    retention: Annotated[Seconds, Field(le=86400)] = 3600.0
    """Every tick's value is kept this long."""
    long_retention: Annotated[Seconds, Field(le=30 * 86400)] = 86400.0
    """Then a minute's mean, this long."""
    max_series: int = Field(default=250, ge=1, le=100_000)
    """At most this many series (a path and its labels) are kept."""

    @field_validator("long_retention")
    @classmethod
    def _longer(cls, long_retention_s: float, info: ValidationInfo) -> float:
        retention_s = info.data.get("retention")
        if retention_s is not None and long_retention_s < retention_s:
            raise ValueError("must be at least history.retention")
        return long_retention_s


class EventsConfig(Section):
    """GET /events, the live stream: streams open at once, and how long one lasts before the
    agent ends it (the browser's EventSource reconnects by itself)."""

    max_clients: int = Field(default=16, ge=1, le=10_000)
    """GET /events streams open at once; past it, 503 with Retry-After."""
    max_duration: Seconds = 1800.0
    """A stream ends after this (the client reconnects)."""
    heartbeat: Seconds = 15.0
    """A comment line after this long with nothing to send, for proxies."""


def _http_url(url: str) -> str:
    parsed = URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError("expected an http:// or https:// URL, e.g. "
                         "http://collector:4318/v1/metrics")
    return url


class OtlpConfig(Section):
    """OTLP push of the same instruments /metrics/prom shows (polyad/otlp.py): to `endpoint`,
    the whole metrics URL (an OpenTelemetry Collector's is http://collector:4318/v1/metrics)."""

    endpoint: Annotated[str, AfterValidator(_http_url)] | None = None
    """Push metrics over OTLP/HTTP to this URL (the whole metrics URL, e.g.
    http://collector:4318/v1/metrics)."""
    protocol: Literal["http/protobuf"] = "http/protobuf"
    """The OTLP transport."""
    interval: Annotated[Seconds, Field(ge=1)] = 60.0
    """A push this often."""
    timeout: Annotated[Seconds, Field(le=60)] = 10.0
    """Each push, its retries included, gives up after this."""
    compression: Literal["gzip", "none"] = "gzip"
    """Compress each push."""
    # e.g. an API key: {"x-api-key": "…"}; also from POLYAD_TELEMETRY__OTLP__HEADERS (JSON),
    # or headers_file: one "Name: value" a line. Never logged.
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    """Headers sent with each push (an API key); never logged."""
    headers_file: Path | None = None
    """More headers, one 'Name: value' a line (a mounted secret)."""


class TelemetryConfig(Section):
    otlp: OtlpConfig = OtlpConfig()
    """OTLP push of the same metrics /metrics/prom shows."""


class ConsoleConfig(Section):
    """The web console at `/`: static files only (its data requests carry a token);
    `enabled: false` removes its routes."""

    enabled: bool = True
    """Serve the web console at / (false removes its routes)."""


class Config(Section):
    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    rate_limit: RateLimitConfig = RateLimitConfig()
    cors: CorsConfig = CorsConfig()
    redis: RedisConfig = RedisConfig()
    tasks: TasksConfig = TasksConfig()
    cache: CacheConfig = CacheConfig()
    sampler: SamplerConfig = SamplerConfig()
    history: HistoryConfig = HistoryConfig()
    events: EventsConfig = EventsConfig()
    console: ConsoleConfig = ConsoleConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    host: HostConfig = HostConfig()
    collectors: Annotated[CollectorsConfig, BeforeValidator(_collector_sections)] = Field(
        default_factory=dict, validate_default=True)
    logging: LoggingConfig = LoggingConfig()
    alerts: AlertsConfig = AlertsConfig()
    notifiers: NotifiersConfig = NotifiersConfig()
    state_dir: Path = Path("~/.local/state/polyad")
    """Where the agent keeps what it makes (the signing secret, mode 0600)."""

    @model_validator(mode="after")
    def _redis_answers_within_a_heartbeat(self) -> Config:
        """A task's lease is renewed every tasks.lease/3: a command allowed to wait longer
        than that could let the lease run out while the agent still holds the task."""
        if ("timeout" in self.redis.model_fields_set and self.tasks.backend == "redis"
                and self.redis.timeout > self.tasks.lease / 3):
            raise ValueError(f"redis.timeout ({self.redis.timeout:g}s) must be at most a third "
                             f"of tasks.lease ({self.tasks.lease:g}s) with tasks.backend redis")
        return self

    @model_validator(mode="after")
    def _certificates_verified(self) -> Config:
        if self.auth.client_cert_scopes and self.server.tls.client_ca_file is None:
            raise ValueError("auth.client_cert_scopes needs server.tls.client_ca_file: only a "
                             "certificate the agent verified may stand in for a token")
        return self

    @property
    def redis_timeout_s(self) -> float:
        """What a Redis command may wait: redis.timeout, or a third of tasks.lease where that
        is shorter and redis.timeout was left at its default."""
        if "timeout" in self.redis.model_fields_set or self.tasks.backend != "redis":
            return self.redis.timeout
        return min(self.redis.timeout, self.tasks.lease / 3)


