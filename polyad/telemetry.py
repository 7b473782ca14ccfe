"""OpenTelemetry instruments for the catalog and the HTTP server, exposed for Prometheus.

Each app gets its own MeterProvider and prometheus_client registry: nothing global, so two apps
in one process never collide. The exposition is rendered at most once per sampler tick and
content type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Histogram, Observation
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest as text_format
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_1_0_0
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_format

from polyad import __version__
from polyad.catalog import MetricSpec, catalog
from polyad.snapshot import Snapshot

__all__ = ["Telemetry"]

# OpenTelemetry's recommended boundaries for http.server.request.duration, in seconds.
HTTP_DURATION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                           7.5, 10.0)

SnapshotSource = Callable[[], Snapshot | None]
Encoder = Callable[[CollectorRegistry], bytes]

# Two formats, chosen here rather than by prometheus_client's negotiation, which fails on a
# malformed `version=` and would make every distinct Accept header a new cached body.
_FORMATS: dict[bool, tuple[Encoder, str]] = {
    False: (text_format, CONTENT_TYPE_PLAIN_0_0_4),
    True: (openmetrics_format, OPENMETRICS_1_0_0),
}


def wants_openmetrics(accept: str) -> bool:
    media_types = (part.split(";", 1)[0].strip().lower() for part in accept.split(","))
    return "application/openmetrics-text" in media_types


class Telemetry:
    def __init__(self, snapshot_source: SnapshotSource,
                 metrics: Iterable[MetricSpec] | None = None) -> None:
        self._snapshot_source = snapshot_source
        self.registry = CollectorRegistry(auto_describe=False)
        self._reader = PrometheusMetricReader(
            disable_target_info=True, scope_info_enabled=False, registry=self.registry
        )
        self._provider = MeterProvider(metric_readers=[self._reader], shutdown_on_exit=False)
        self.meter = self._provider.get_meter("polyad", __version__)
        for spec in catalog() if metrics is None else metrics:
            if spec.otel_name is not None:
                self._observe(spec)
        self.http_server_duration: Histogram = self.meter.create_histogram(
            "http.server.request.duration", unit="s",
            description="Duration of HTTP server requests",
            explicit_bucket_boundaries_advisory=list(HTTP_DURATION_BUCKETS_S),
        )
        self._rendered: dict[str, tuple[int, bytes]] = {}

    def render(self, accept: str) -> tuple[bytes, str]:
        """The exposition for this `Accept` header, and its content type."""
        encode, content_type = _FORMATS[wants_openmetrics(accept)]
        snapshot = self._snapshot_source()
        seq = snapshot.seq if snapshot is not None else 0
        cached = self._rendered.get(content_type)
        if cached is not None and cached[0] == seq and seq != 0:
            return cached[1], content_type
        body = encode(self.registry)
        self._rendered[content_type] = (seq, body)
        return body, content_type

    def shutdown(self) -> None:
        self._provider.shutdown()

    def _observe(self, spec: MetricSpec) -> None:
        def observe(_: CallbackOptions) -> Iterable[Observation]:
            snapshot = self._snapshot_source()
            if snapshot is None:
                return []
            return [Observation(value * spec.otel_scale, dict(zip(spec.labels, labels,
                                                                   strict=True)))
                    for labels, value in spec.readings(snapshot) if value is not None]

        assert spec.otel_name is not None
        create = (self.meter.create_observable_counter if spec.kind == "counter"
                  else self.meter.create_observable_gauge)
        create(spec.otel_name, callbacks=[observe], unit=spec.unit, description=spec.description)
