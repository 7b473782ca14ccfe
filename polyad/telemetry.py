"""OpenTelemetry instruments for the catalog and the HTTP server, exposed for Prometheus, with
the agent's build info and its own process_* series.

Each app gets its own MeterProvider and readers: nothing global, so two apps in one process
never collide. The exposition (polyad/exposition.py) is rendered at most once per sampler tick
and content type.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, MetricsData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from polyad import __version__
from polyad.catalog import MetricSpec, catalog
from polyad.exposition import (
    CONTENT_TYPE_OPENMETRICS,
    CONTENT_TYPE_TEXT,
    boot_time,
    families_of,
    process_families,
    render,
    sanitize_full_name,
)
from polyad.negotiation import wants_openmetrics
from polyad.request_durations import RequestDurations
from polyad.snapshot import Snapshot

__all__ = ["Telemetry", "request_durations"]

# OpenTelemetry's recommended boundaries for http.server.request.duration, in seconds.
HTTP_DURATION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                           7.5, 10.0)

SnapshotSource = Callable[[], Snapshot | None]

# Two formats, chosen by polyad/negotiation.py: a malformed `version=` gets the text format, and
# every distinct Accept header is not a new cached body.
_CONTENT_TYPES = {False: CONTENT_TYPE_TEXT, True: CONTENT_TYPE_OPENMETRICS}

# The agent's own process, always under /proc and never the configured host.procfs: that one
# is the watched host's tree (mounted elsewhere when the agent runs in a container), while
# /proc/self is this process wherever it runs.
OWN_PROCFS = Path("/proc")

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


class _ExpositionReader(MetricReader):
    """The exposition's reader (cumulative, the SDK's default): a collection when asked, with
    the request durations merged in."""

    def __init__(self, durations: RequestDurations) -> None:
        super().__init__()
        self._durations = durations
        self._received: MetricsData | None = None

    def collected(self) -> MetricsData | None:
        self.collect()
        received, self._received = self._received, None
        return received

    def _receive_metrics(self, metrics_data: MetricsData | None, timeout_millis: float = 10_000,
                         **kwargs: object) -> None:
        if metrics_data is not None:
            self._received = self._durations.merged_into(metrics_data)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        self._received = None


class Telemetry:
    """`readers`: more readers of the same instruments (the OTLP push's, which merges
    `durations` into its exports itself), with the `resource` they describe the agent by (the
    Prometheus exposition shows no target_info)."""

    def __init__(self, snapshot_source: SnapshotSource,
                 metrics: Iterable[MetricSpec] | None = None, *,
                 readers: Sequence[MetricReader] = (), resource: Resource | None = None,
                 durations: RequestDurations | None = None) -> None:
        self._snapshot_source = snapshot_source
        self.http_server_duration = durations or request_durations()
        self._reader = _ExpositionReader(self.http_server_duration)
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
        # only, written after the rest as prometheus_client's process collector writes them.
        self._boot_time_s = boot_time(OWN_PROCFS)
        self._ratios = _ratio_families(specs)
        self._rendered: dict[str, tuple[int, bytes]] = {}

    def render(self, accept: str) -> tuple[bytes, str]:
        """The exposition for this `Accept` header, and its content type."""
        openmetrics = wants_openmetrics(accept)
        content_type = _CONTENT_TYPES[openmetrics]
        snapshot = self._snapshot_source()
        seq = snapshot.seq if snapshot is not None else 0
        cached = self._rendered.get(content_type)
        if cached is not None and cached[0] == seq and seq != 0:
            return cached[1], content_type
        collected = self._reader.collected()
        families = families_of(collected, self._ratios) if collected is not None else []
        families += process_families(OWN_PROCFS, self._boot_time_s)
        body = render(families, openmetrics)
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
    """The families of unit-`1` instruments (named without a suffix) that get `_ratio` after
    their name: the specification's Prometheus translation, which the OpenTelemetry Collector
    applies and the Python exporter does not yet (spec issue #4058). So a scrape and an OTLP
    push through the Collector name a series alike (system_cpu_utilization_ratio); `polyad
    rules export` derives the same."""
    return frozenset(sanitize_full_name(spec.otel_name) for spec in metrics
                     if spec.otel_name and spec.unit == "1"
                     and not spec.otel_name.endswith("_ratio"))
