"""The request-duration histogram kept outside the SDK's instrument: the same series, the same
buckets and the same exposition as an OpenTelemetry histogram fed the same requests."""

from __future__ import annotations

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Histogram, HistogramDataPoint
from prometheus_client import CollectorRegistry, generate_latest

from polyad.request_durations import NAME
from polyad.telemetry import HTTP_DURATION_BUCKETS_S, Telemetry, request_durations

REQUESTS = [  # seconds, route, method, status: on bucket bounds, between, past the last
    (0.005, "/status", "GET", 200), (0.0049, "/status", "GET", 200),
    (0.3, "/status", "GET", 200), (12.0, "/status", "GET", 200),
    (0.02, None, "GET", 404), (0.001, "/task", "POST", 202), (0.001, "/task", "BREW", 405),
]


def _series_lines(text: bytes) -> list[str]:
    return sorted(line for line in text.decode().splitlines()
                  if line.startswith("http_server_request_duration_seconds"))


def test_the_exposition_is_the_sdk_histogram_s() -> None:
    """What an SDK histogram with the same buckets and attributes exposes, line for line."""
    registry = CollectorRegistry(auto_describe=False)
    reader = PrometheusMetricReader(disable_target_info=True, scope_info_enabled=False,
                                    registry=registry)
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    histogram = provider.get_meter("polyad").create_histogram(
        NAME, unit="s", description="Duration of HTTP server requests",
        explicit_bucket_boundaries_advisory=list(HTTP_DURATION_BUCKETS_S))
    telemetry = Telemetry(lambda: None, metrics=())
    for seconds, route, method, status in REQUESTS:
        attributes: dict[str, str | int] = {
            "http.request.method": method if method != "BREW" else "_OTHER",
            "http.response.status_code": status}
        if route is not None:
            attributes["http.route"] = route
        histogram.record(seconds, attributes)
        telemetry.http_server_duration.record(seconds, route, method, status)
    expected = _series_lines(generate_latest(registry))
    assert len(expected) == 4 * (len(HTTP_DURATION_BUCKETS_S) + 1 + 2)  # 4 series
    assert _series_lines(telemetry.render("text/plain")[0]) == expected
    provider.shutdown()


def test_buckets_count_each_request_once_with_sum_min_and_max() -> None:
    durations = request_durations()
    for seconds, route, method, status in REQUESTS:
        durations.record(seconds, route, method, status)
    metric = durations.metric()
    assert metric is not None and metric.name == NAME and metric.unit == "s"
    assert isinstance(metric.data, Histogram)
    points: dict[tuple[object, object], HistogramDataPoint] = {}
    for point in metric.data.data_points:
        attributes = dict(point.attributes or {})
        points[(attributes.get("http.route"), attributes["http.request.method"])] = point
    served = points[("/status", "GET")]
    assert served.count == 4 and sum(served.bucket_counts) == 4
    assert served.bucket_counts[0] == 2          # 0.0049 and 0.005: (…, 0.005]
    assert served.bucket_counts[-1] == 1         # 12 s: past the last bound
    assert (served.min, served.max) == (0.0049, 12.0)
    assert abs(served.sum - 12.3099) < 1e-9
    assert dict(points[(None, "GET")].attributes or {})["http.response.status_code"] == 404
    assert ("/task", "_OTHER") in points


def test_no_request_adds_nothing() -> None:
    assert request_durations().metric() is None
