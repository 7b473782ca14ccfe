"""GET /metrics/prom: OpenTelemetry instruments via the Prometheus reader, checked by promtool."""

from __future__ import annotations

import asyncio
import platform
import time

import psutil
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from polyad import __version__
from polyad.collectors.gpu import GpuCollector
from polyad.collectors.memory import MemoryCollector
from tests.conftest import AppClient, MakeClient
from tests.fakes import nvml as fake
from tests.fakes.nvml import FakeGpu, FakeNvml
from tests.promtool import check_metrics

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
MB = 1_000_000
BUILD_INFO = frozenset({("version", __version__), ("python_version", platform.python_version()),
                        ("python_implementation", platform.python_implementation())})
# what every exporter dashboard reads of an exporter's own process
PROCESS_SERIES = ("process_resident_memory_bytes", "process_virtual_memory_bytes",
                  "process_cpu_seconds_total", "process_open_fds", "process_max_fds",
                  "process_start_time_seconds")
# read at import, before any test points psutil at a made-up host's /proc
STARTED_AT_S = psutil.Process().create_time()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def scrape_after_cpu_is_measured(client: AppClient) -> str:
    """CPU usage needs a 250 ms window, so the first tick after start has none yet."""
    for _ in range(40):
        response = await client.get("/metrics/prom")
        assert response.status == 200
        text = await response.text()
        if "\nsystem_cpu_utilization_ratio{" in text:
            return text
        await asyncio.sleep(0.1)
    raise AssertionError("no CPU usage in 4 s")


async def test_host_metrics_pass_promtool(make_client: MakeClient) -> None:
    client = await make_client(sampler={"interval": "300ms"})
    response = await client.get("/metrics/prom")
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await scrape_after_cpu_is_measured(client)
    result = check_metrics(text)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "otel_scope" not in text and "target_info" not in text
    values = samples(text)
    assert 0.0 <= values[("system_cpu_utilization_ratio",
                          frozenset({("cpu_logical_number", "0")}))] <= 1.0
    assert 0.0 < values[("system_memory_utilization_ratio", frozenset())] <= 1.0
    assert values[("system_memory_limit_bytes", frozenset())] > 0
    assert values[("polyad_collector_success", frozenset({("collector", "memory")}))] == 1.0
    # what promtool checked includes the agent's own series
    assert values[("polyad_build_info", BUILD_INFO)] == 1.0
    assert {name for name, _ in values} >= set(PROCESS_SERIES)


async def test_build_info_names_the_version_and_the_python_in_both_formats(
    client: AppClient,
) -> None:
    text = await (await client.get("/metrics/prom")).text()
    assert samples(text)[("polyad_build_info", BUILD_INFO)] == 1.0
    assert [name for name, _ in samples(text)].count("polyad_build_info") == 1
    openmetrics = await (await client.get("/metrics/prom", headers={"Accept": OPENMETRICS})).text()
    # the OpenMetrics parser is strict: a family it reads is one a scraper reads
    families = openmetrics_families(openmetrics)  # type: ignore[no-untyped-call]
    family = next(f for f in families if f.name == "polyad_build_info")
    assert family.type == "gauge"
    assert [(dict(s.labels), s.value) for s in family.samples] == [(dict(BUILD_INFO), 1.0)]


def plausible_process_series(values: dict[tuple[str, frozenset[tuple[str, str]]], float],
                             ) -> None:
    """This test process's own numbers (the agent runs in it), not another's."""
    own = {name: values[(name, frozenset())] for name in PROCESS_SERIES}
    assert own["process_resident_memory_bytes"] > 1 * MB
    assert own["process_virtual_memory_bytes"] >= own["process_resident_memory_bytes"]
    assert own["process_cpu_seconds_total"] > 0.0
    assert 0 < own["process_open_fds"] <= own["process_max_fds"]
    assert time.time() - 3600 < own["process_start_time_seconds"] <= time.time()
    # the start time psutil reads for this process (to within the kernel's boot-time second)
    assert own["process_start_time_seconds"] == pytest.approx(STARTED_AT_S, abs=1.0)


async def test_the_agents_own_process_series_are_plausible_and_pass_promtool(
    client: AppClient,
) -> None:
    text = await (await client.get("/metrics/prom")).text()
    result = check_metrics(text)
    assert result.returncode == 0, result.stdout + result.stderr
    plausible_process_series(samples(text))
    assert samples(text)[("polyad_build_info", BUILD_INFO)] == 1.0


async def test_process_series_read_the_agents_own_proc_not_the_watched_hosts(
    make_client: MakeClient, fixture_host: dict[str, str],
) -> None:
    # the made-up host's /proc has no `self` and booted in 2023
    client = await make_client(host=fixture_host)
    plausible_process_series(samples(await (await client.get("/metrics/prom")).text()))


async def test_gpu_series_from_two_fake_devices_pass_promtool(make_client: MakeClient) -> None:
    gpus = [FakeGpu(), FakeGpu(uuid="GPU-second", failures={"temperature":
                                                             fake.NVMLError_NotSupported})]
    client = await make_client(use_collectors=[GpuCollector(FakeNvml(gpus)), MemoryCollector()])
    text = await (await client.get("/metrics/prom")).text()
    result = check_metrics(text)
    assert result.returncode == 0, result.stdout + result.stderr
    values = samples(text)
    first = frozenset({("gpu", "0"), ("uuid", "GPU-00000000-1111-2222-3333-444444444444")})
    second = frozenset({("gpu", "1"), ("uuid", "GPU-second")})
    assert values[("hw_gpu_utilization_ratio", first)] == pytest.approx(0.42)
    assert values[("polyad_gpu_temperature_celsius", first)] == 61.0
    assert ("polyad_gpu_temperature_celsius", second) not in values  # not supported: no series
    assert values[("polyad_gpu_power_watts", second)] == 250.0
    assert values[("polyad_gpu_clock_sm_hertz", first)] == 1980e6
    assert values[("hw_gpu_memory_limit_bytes", first)] == 80 * 1024**3


async def test_a_failing_collector_shows_as_zero_and_degrades_status(
    make_client: MakeClient,
) -> None:
    broken = FakeNvml([FakeGpu()], init_error=fake.NVMLError_GpuIsLost)
    client = await make_client(use_collectors=[GpuCollector(broken), MemoryCollector()])
    values = samples(await (await client.get("/metrics/prom")).text())
    assert values[("polyad_collector_success", frozenset({("collector", "gpu")}))] == 0.0
    assert values[("polyad_collector_success", frozenset({("collector", "memory")}))] == 1.0
    status = await (await client.get("/status")).json()
    assert status["status"] == "degraded"
    assert status["components"]["collector.gpu"] == {
        "status": "failed",
        "detail": "NvmlStartError: NVML failed to initialise: GpuIsLost"}
    assert status["resources"]["memory"] is not None  # the rest still serves


async def test_a_lost_gpu_degrades_status_and_the_other_gpu_still_reports(
    make_client: MakeClient,
) -> None:
    gpus = [FakeGpu(uuid="GPU-lost", failures={"power": fake.NVMLError_GpuIsLost}),
            FakeGpu(uuid="GPU-fine")]
    client = await make_client(use_collectors=[GpuCollector(FakeNvml(gpus))])
    values = samples(await (await client.get("/metrics/prom")).text())
    lost = frozenset({("gpu", "0"), ("uuid", "GPU-lost")})
    fine = frozenset({("gpu", "1"), ("uuid", "GPU-fine")})
    assert values[("polyad_gpu_success", lost)] == 0.0
    assert values[("polyad_gpu_success", fine)] == 1.0
    assert ("hw_gpu_utilization_ratio", lost) not in values
    assert values[("hw_gpu_utilization_ratio", fine)] == pytest.approx(0.42)
    assert values[("polyad_collector_success", frozenset({("collector", "gpu")}))] == 1.0
    status = await (await client.get("/status")).json()
    assert status["status"] == "degraded"
    assert status["components"]["gpu.0"] == {"status": "failed",
                                             "detail": "NVMLError_GpuIsLost: GpuIsLost"}
    assert status["resources"]["gpu"] == 42.0


async def test_no_gpu_is_ok_with_the_reason_not_degraded(make_client: MakeClient) -> None:
    absent = FakeNvml(init_error=fake.NVMLError_LibraryNotFound)
    client = await make_client(use_collectors=[GpuCollector(absent), MemoryCollector()])
    status = await (await client.get("/status")).json()
    assert status["status"] == "running"
    assert status["components"]["collector.gpu"] == {
        "status": "ok", "detail": "NVML unavailable: LibraryNotFound"}
    metrics = await (await client.get("/metrics")).json()
    assert metrics["gpu"]["usage"] is None and metrics["gpu"]["count"] == 0
    gpu_report = next(c for c in metrics["collectors"] if c["name"] == "gpu")
    assert gpu_report["success"] is True
    assert gpu_report["no_data"] == "NVML unavailable: LibraryNotFound"


async def test_openmetrics_when_the_scraper_asks(client: AppClient) -> None:
    response = await client.get("/metrics/prom", headers={"Accept": OPENMETRICS})
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    text = await response.text()
    assert text.endswith("# EOF\n")
    assert "# UNIT system_memory_limit_bytes bytes" in text


@pytest.mark.parametrize("accept", [
    "application/openmetrics-text; version=abc",
    "text/plain; version=x.y",
    "application/openmetrics-text; version=1.0.0.0.0.hello; escaping=nonsense",
    "*/*;;;q=banana",
    "\u00e9\u00e9",
])
async def test_odd_accept_headers_still_get_an_exposition(client: AppClient, accept: str) -> None:
    response = await client.get("/metrics/prom", headers={"Accept": accept})
    assert response.status == 200
    assert response.headers["Content-Type"] in (
        "text/plain; version=0.0.4; charset=utf-8",
        "application/openmetrics-text; version=1.0.0; charset=utf-8")


async def test_http_requests_are_counted_by_route_template_and_status(
    make_client: MakeClient,
) -> None:
    client = await make_client(sampler={"interval": "100ms"})
    for path in ("/status", "/status", "/metrics", "/no/such/thing"):
        await client.get(path)
    await client.get("/readyz")  # a later tick re-renders the exposition
    text = ""
    for _ in range(50):
        text = await (await client.get("/metrics/prom")).text()
        if 'http_route="/metrics"' in text:
            break
    values = samples(text)
    status_200 = frozenset({("http_request_method", "GET"), ("http_route", "/status"),
                            ("http_response_status_code", "200")})
    # no route matched: the label is empty, which Prometheus reads as absent
    unmatched_404 = frozenset({("http_request_method", "GET"), ("http_route", ""),
                               ("http_response_status_code", "404")})
    assert values[("http_server_request_duration_seconds_count", status_200)] == 2.0
    assert values[("http_server_request_duration_seconds_count", unmatched_404)] == 1.0
    assert "/no/such/thing" not in text  # raw paths never become labels


async def test_the_exposition_is_rendered_once_per_tick(make_client: MakeClient) -> None:
    client = await make_client(sampler={"interval": "1h"})
    first = await (await client.get("/metrics/prom")).read()
    await client.get("/status")
    second = await (await client.get("/metrics/prom")).read()
    assert second is not None and first == second  # same tick: the memoized body
