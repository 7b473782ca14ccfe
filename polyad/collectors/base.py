"""What a collector is, end to end: the thing that samples (`Collector`), and what it declares
(`CollectorSpec`): its config section, its catalog entries and its piece of `GET /metrics`.
Adding a signal is one module that exports a `CollectorSpec`, and one registry line."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import structlog
from pydantic import BaseModel, ConfigDict

from polyad.config import CollectorConfig, HostConfig

if TYPE_CHECKING:
    from polyad.snapshot import Snapshot

__all__ = ["PERCENT", "USER_HZ", "Collector", "CollectorSpec", "JsonPiece", "MetricSpec",
           "NoDataLog", "PieceModel", "Reading", "read_file", "read_text", "scalar"]

SampleT_co = TypeVar("SampleT_co", covariant=True)
Reading = tuple[tuple[str, ...], float | None]  # (label values, value in the JSON's unit)
PERCENT = 0.01                                  # JSON percent → OpenTelemetry ratio
_SYSFS_PAGE = 4096                              # the most a sysfs attribute file holds
_PROCFS_CHUNK = 65536                           # /proc/stat on a big host is tens of KB
# procfs counts CPU time in these ticks a second (/proc/stat, /proc/<pid>/stat)
USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class Collector(Protocol[SampleT_co]):
    """Runs in a worker thread; never called twice at once for the same instance."""

    name: str
    # Why the collector has nothing to give on this host (no driver, no sensors), else None.
    no_data: str | None

    def collect(self) -> SampleT_co: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric, declared once: its path in the `GET /metrics` JSON (what alert rules refer
    to), the OpenTelemetry instrument it feeds (what `/metrics/prom` shows), its unit, and how
    to read it from its collector's sample. `[]` in a path means one value per device, told
    apart by the labels."""

    otel_name: str | None          # None: JSON only (an aggregate Prometheus users compute)
    path: str | None               # None: exposition only (a counter alerts would not use)
    unit: str                      # UCUM, as OpenTelemetry writes it: "1", "By", "Cel", "W", "Hz"
    description: str
    read: Callable[[Any], Iterable[Reading]]   # the collector's sample → readings
    labels: tuple[str, ...] = ()
    kind: Literal["gauge", "counter"] = "gauge"
    otel_scale: float = 1.0        # instrument value = JSON value * otel_scale (% → ratio)
    # For a JSON-only value: the PromQL that gives it from the exposition, and the factor from
    # the JSON's unit to the PromQL's (what `polyad rules export` writes for its alerts).
    promql: tuple[str, float] | None = None
    # Whose sample `read` takes: stamped by the registry; None reads the Snapshot itself (the
    # agent's own metrics).
    collector: str | None = None

    @property
    def json_unit(self) -> str:
        """The unit of the value in GET /metrics: `%` where the exposition has the ratio."""
        if self.otel_name is not None:
            scale = self.otel_scale
        else:
            scale = self.promql[1] if self.promql is not None else 1.0
        return "%" if self.unit == "1" and scale == PERCENT else self.unit

    def readings(self, snapshot: Snapshot) -> Iterable[Reading]:
        if self.collector is None:
            return self.read(snapshot)
        sample = snapshot.samples.get(self.collector)
        return self.read(sample) if sample is not None else ()


def scalar(value: float | None) -> list[Reading]:
    return [((), value)]


class PieceModel(BaseModel):
    """A piece of `GET /metrics`: frozen, like every response model."""

    model_config = ConfigDict(frozen=True)


@dataclass(frozen=True, slots=True)
class JsonPiece:
    """Fields a collector puts in one member of the `GET /metrics` document (None: at its top
    level). Pieces of the same member merge, in registry order (the sensors collector adds
    `temperature` to `cpu`)."""

    member: str | None
    model: type[PieceModel]
    render: Callable[[Any], PieceModel]   # the sample, or None (off, failed) → the fields


@dataclass(frozen=True, slots=True)
class CollectorSpec:
    name: str
    config: type[CollectorConfig]                       # its section, `collectors.<name>`
    build: Callable[[Any, HostConfig], Collector[Any]]  # (its section, the host's paths)
    metrics: tuple[MetricSpec, ...] = ()
    pieces: tuple[JsonPiece, ...] = ()
    # Its number in /status `resources` (the seed's cpu, memory, gpu), from its sample.
    resource: Callable[[Any], float | None] | None = None
    # The `system.monitor` task's component of that name samples these catalog paths.
    component: str | None = None
    monitored: tuple[str, ...] = ()
    # Parts of it that failed this tick although it answered (a lost GPU): (name, why).
    failures: Callable[[Any], Iterable[tuple[str, str]]] | None = None


def read_file(path: str | Path) -> str:
    """A kernel file whole: os.open and os.read until the end, without Path.read_text's text
    wrapper, whose fstat, ioctl and lseek cost more than the read (a tick reads about thirty
    such files; 8.6 against 24 µs for /proc/uptime here). Raises OSError."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(descriptor, _PROCFS_CHUNK):
            chunks.append(chunk)
    finally:
        os.close(descriptor)
    return b"".join(chunks).decode()


def read_text(path: str | Path) -> str | None:
    """A kernel file's value, stripped; None when it cannot be read. Drivers fail reads in many
    ways (EINVAL for a link speed they do not know, EIO, a device gone since it was listed).

    For the one-value files of sysfs, read in one system call without a text wrapper: a tick
    on a big host reads hundreds of them (a third of Path.read_text's cost, bench host-size)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(descriptor, _SYSFS_PAGE).decode().strip()
    except (OSError, UnicodeDecodeError):
        return None
    finally:
        os.close(descriptor)


class NoDataLog:
    """Says once, at debug, that a source has nothing to give here (no GPU, no sensors)."""

    def __init__(self, collector: str) -> None:
        self._collector = collector
        self._said: set[str] = set()

    def once(self, reason: str) -> None:
        if reason in self._said:
            return
        self._said.add(reason)
        structlog.get_logger(logger_name="polyad.collectors").debug(
            "collector has no data", collector=self._collector, reason=reason
        )
