"""GET /metrics/prom: OpenTelemetry instruments via the Prometheus reader, checked by promtool."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from polyad.collectors.gpu import GpuCollector
from polyad.collectors.memory import MemoryCollector
from tests.conftest import AppClient, MakeClient
from tests.fakes import nvml as fake
from tests.fakes.nvml import FakeGpu, FakeNvml

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: `make test` installs Debian's prometheus package"
    return path


def check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=30, check=False)


async def scrape_after_cpu_is_measured(client: AppClient) -> str:
    """CPU usage needs a 250 ms window, so the first tick after start has none yet."""
    for _ in range(40):
        response = await client.get("/metrics/prom")
        assert response.status == 200
        text = await response.text()
        if "\nsystem_cpu_utilization " in text:
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
    assert 0.0 <= values[("system_cpu_utilization", frozenset())] <= 1.0
    assert ("system_cpu_core_utilization", frozenset({("cpu", "0")})) in values
    assert 0.0 < values[("system_memory_utilization", frozenset())] <= 1.0
    assert values[("system_memory_limit_bytes", frozenset())] > 0
    assert values[("polyad_collector_success", frozenset({("collector", "memory")}))] == 1.0


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
    assert values[("hw_gpu_utilization", first)] == pytest.approx(0.42)
    assert values[("hw_gpu_temperature_celsius", first)] == 61.0
    assert ("hw_gpu_temperature_celsius", second) not in values  # not supported: no series
    assert values[("hw_gpu_power_watts", second)] == 250.0
    assert values[("hw_gpu_clock_sm_hertz", first)] == 1980e6
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
    assert ("hw_gpu_utilization", lost) not in values
    assert values[("hw_gpu_utilization", fine)] == pytest.approx(0.42)
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
