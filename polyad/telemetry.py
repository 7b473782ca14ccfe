"""OpenTelemetry instruments for the catalog and the HTTP server, exposed for Prometheus, with
the agent's build info and its own process_* series.

Each app gets its own MeterProvider and prometheus_client registry: nothing global, so two apps
in one process never collide. The exposition is rendered at most once per sampler tick and
content type.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Sequence

from opentelemetry.exporter.prometheus import PrometheusMetricReader

# The exporter's own name translation, as polyad/alerts/export.py uses it (pinned, and checked by
# a test against the live exposition).
from opentelemetry.exporter.prometheus._mapping import sanitize_full_name
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, MetricsData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client import generate_latest as text_format
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_1_0_0
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_format
from prometheus_client.registry import Collector

from polyad import __version__
from polyad.catalog import MetricSpec, catalog
from polyad.negotiation import wants_openmetrics
from polyad.request_durations import RequestDurations
from polyad.snapshot import Snapshot

__all__ = ["Telemetry", "request_durations"]

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

# The agent's own process, always under /proc and never the configured host.procfs: that one
# is the watched host's tree (mounted elsewhere when the agent runs in a container), while
# /proc/self is this process wherever it runs.
OWN_PROCFS = "/proc"

# `polyad_build_info{…} 1`, as every exporter has (node_exporter_build_info): what an operator
# needs to tell agents apart in a fleet, nothing that changes while it runs.
BUILD_INFO_ATTRIBUTES = {
    "version": __version__,
    "python_version": platform.python_version(),
    "python_implementation": platform.python_implementation(),
}


def request_durations() -> RequestDurations:
    """The agent's http.server.request.duration (polyad/request_durations.py says why it is not
    an SDK instrument): one per app, handed to every reader of its instruments."""
    return RequestDurations(HTTP_DURATION_BUCKETS_S, InstrumentationScope("polyad", __version__))


class _PrometheusReader(PrometheusMetricReader):
    """The exporter's reader, given the request durations with each collection."""

    def __init__(self, durations: RequestDurations, registry: CollectorRegistry) -> None:
        super().__init__(disable_target_info=True, scope_info_enabled=False, registry=registry)
        self._durations = durations

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000,
                         **kwargs: object) -> None:
        if metrics_data is not None:
            metrics_data = self._durations.merged_into(metrics_data)
        super()._receive_metrics(metrics_data, timeout_millis, **kwargs)


class Telemetry:
    """`readers`: more readers of the same instruments (the OTLP push's, which merges
    `durations` into its exports itself), with the `resource` they describe the agent by (the
    Prometheus exposition shows no target_info)."""

    def __init__(self, snapshot_source: SnapshotSource,
                 metrics: Iterable[MetricSpec] | None = None, *,
                 readers: Sequence[MetricReader] = (), resource: Resource | None = None,
                 durations: RequestDurations | None = None) -> None:
        self._snapshot_source = snapshot_source
        self.registry = CollectorRegistry(auto_describe=False)
        self.http_server_duration = durations or request_durations()
        self._reader = _PrometheusReader(self.http_server_duration, self.registry)
        self._provider = MeterProvider(metric_readers=[self._reader, *readers],
                                       shutdown_on_exit=False,
                                       resource=resource or Resource.create({}))
        self.meter = self._provider.get_meter("polyad", __version__)
        specs = catalog() if metrics is None else tuple(metrics)
        for spec in specs:
            if spec.otel_name is not None:
                self._observe(spec)
        self.meter.create_observable_gauge(
            "polyad.build.info", callbacks=[_build_info],
            description="polyad's version and the Python that runs it; always 1")
        # The one exception to "every metric through the OTel pipeline", and only these six
        # series: process_* under the names every exporter dashboard queries
        # (process_resident_memory_bytes, process_cpu_seconds_total …), where OTel's process.*
        # conventions would give others (process_memory_usage_bytes …). They are for scrapes
        # only, so prometheus_client's own collector writes them into the same registry
        # (~0.2 to 0.3 ms more per render, and a render is memoized per tick like the rest).
        ProcessCollector(proc=OWN_PROCFS, registry=self.registry)
        self._exposed = CollectorRegistry(auto_describe=False)
        self._exposed.register(_RatiosNamed(self.registry, _ratio_families(specs)))
        self._rendered: dict[str, tuple[int, bytes]] = {}

    def render(self, accept: str) -> tuple[bytes, str]:
        """The exposition for this `Accept` header, and its content type."""
        encode, content_type = _FORMATS[wants_openmetrics(accept)]
        snapshot = self._snapshot_source()
        seq = snapshot.seq if snapshot is not None else 0
        cached = self._rendered.get(content_type)
        if cached is not None and cached[0] == seq and seq != 0:
            return cached[1], content_type
        body = encode(self._exposed)
        self._rendered[content_type] = (seq, body)
        return body, content_type

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Blocking: every reader's last collection (an OTLP push's final export among them)."""
        self._provider.shutdown(timeout_millis=timeout_s * 1000)

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


def _build_info(_: CallbackOptions) -> Iterable[Observation]:
    return [Observation(1, BUILD_INFO_ATTRIBUTES)]


def _ratio_families(metrics: Iterable[MetricSpec]) -> frozenset[str]:
    """The families of unit-`1` instruments, as the exporter names them (no suffix)."""
    return frozenset(sanitize_full_name(spec.otel_name) for spec in metrics
                     if spec.otel_name and spec.unit == "1"
                     and not spec.otel_name.endswith("_ratio"))


class _RatiosNamed(Collector):
    """The registry with `_ratio` after the names of unit-`1` families: the specification's
    Prometheus translation, which the OpenTelemetry Collector applies and this Python exporter
    does not yet (spec issue #4058). So a scrape and an OTLP push through the Collector name a
    series alike (system_cpu_utilization_ratio); `polyad rules export` derives the same."""

    def __init__(self, registry: CollectorRegistry, ratios: frozenset[str]) -> None:
        self._registry = registry
        self._ratios = ratios

    def collect(self) -> Iterable[Metric]:
        for family in self._registry.collect():
            if family.name in self._ratios:
                named = f"{family.name}_ratio"
                family.samples = [sample._replace(name=named + sample.name[len(family.name):])
                                  for sample in family.samples]
                family.name = named
            yield family
