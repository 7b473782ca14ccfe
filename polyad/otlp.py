"""OTLP push (`telemetry.otlp`): the same instruments /metrics/prom shows, exported over
OTLP/HTTP (protobuf) every `interval` by a reader on the same MeterProvider: one pipeline, no
second definition of any metric.

The export runs in the reader's own thread, so a receiver that is down or slow never delays the
sampler or the API; each export, its retries included, is bounded by `timeout`, and what is
collected next replaces what could not be sent (nothing queues up). A failed export is counted
(`polyad.otlp.export.failures`) and `/status` shows the `otlp` component failed until one
succeeds. Imported only when an endpoint is set (1.9 MB of resident memory, protobuf with it).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import structlog
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

from polyad import __version__
from polyad.config import read_setting_file
from polyad.config.sections import OtlpConfig
from polyad.errors import ConfigError
from polyad.health import HealthBoard
from polyad.request_durations import RequestDurations

__all__ = ["COMPONENT", "CountedExporter", "otlp_reader", "resource"]

COMPONENT = "otlp"
log = structlog.get_logger(logger_name="polyad.otlp")


def resource(instance: str) -> Resource:
    """Who sends: service.* and host.* as the semantic conventions name them."""
    attributes: dict[str, str] = {"service.name": "polyad", "service.version": __version__,
                                  "service.instance.id": instance,
                                  "host.name": socket.gethostname()}
    host_id = _machine_id()
    if host_id:
        attributes["host.id"] = host_id
    return Resource.create(attributes)


def _machine_id() -> str | None:
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            return Path(path).read_text().strip() or None
        except OSError:
            continue
    return None


def headers(config: OtlpConfig) -> dict[str, str]:
    """The configured headers and those of `headers_file` (one "Name: value" a line)."""
    found = {name: value.get_secret_value() for name, value in config.headers.items()}
    if config.headers_file is not None:
        lines = read_setting_file("telemetry.otlp.headers_file",
                                  config.headers_file).splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, colon, value = line.partition(":")
            if not colon or not name.strip():
                raise ConfigError(f"telemetry.otlp.headers_file: line {number} is not "
                                  "'Name: value'")
            found[name.strip()] = value.strip()
    return found


class CountedExporter(MetricExporter):
    """The OTLP exporter, with each outcome counted and told to the health board."""

    def __init__(self, inner: MetricExporter, health: HealthBoard, endpoint: str,
                 durations: RequestDurations) -> None:
        super().__init__(preferred_temporality=inner._preferred_temporality,
                         preferred_aggregation=inner._preferred_aggregation)
        self._inner = inner
        self._durations = durations
        self._health = health
        self._endpoint = endpoint
        self.failures = 0
        health.report(COMPONENT, ok=True, detail=f"{endpoint}, nothing sent yet")

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000,
               **kwargs: Any) -> MetricExportResult:
        try:
            result = self._inner.export(self._durations.merged_into(metrics_data),
                                        timeout_millis=timeout_millis, **kwargs)
        except Exception as error:   # the exporter's own failure must not end its thread
            log.warning("otlp export failed", error=type(error).__name__)
            result = MetricExportResult.FAILURE
        if result is MetricExportResult.SUCCESS:
            if self.failures and not self._health.components()[COMPONENT].ok:
                log.info("otlp export works again", endpoint=self._endpoint)
            self._health.report(COMPONENT, ok=True, detail=self._endpoint)
        else:
            self.failures += 1
            if self._health.components()[COMPONENT].ok:
                log.warning("otlp export failing", endpoint=self._endpoint)
            self._health.report(COMPONENT, ok=False,
                                detail=f"{self._endpoint}: exports failing")
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._inner.shutdown(timeout_millis=timeout_millis, **kwargs)


def otlp_reader(config: OtlpConfig, health: HealthBoard, durations: RequestDurations) -> tuple[
        PeriodicExportingMetricReader, CountedExporter]:
    """The reader to give the MeterProvider, and its exporter (whose failures are counted, and
    which adds the request `durations` to each export)."""
    assert config.endpoint is not None
    exporter = CountedExporter(OTLPMetricExporter(
        endpoint=config.endpoint, headers=headers(config), timeout=config.timeout,
        compression=Compression.Gzip if config.compression == "gzip"
        else Compression.NoCompression), health, config.endpoint, durations)
    reader = PeriodicExportingMetricReader(
        exporter, export_interval_millis=config.interval * 1000,
        export_timeout_millis=config.timeout * 1000)
    return reader, exporter
