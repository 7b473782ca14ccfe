"""OTLP push against real OTLP/HTTP receivers the test serves (aiohttp, decoding the protobuf
with the official opentelemetry-proto messages): the same instruments as /metrics/prom, with
the agent's resource attributes and the configured headers; a receiver that answers 503 and
one that hangs are counted as failures and shown in /status, and never slow the API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from polyad.telemetry import HTTP_DURATION_BUCKETS_S
from tests.conftest import MakeClient

API_KEY = "otlp-key-0123"  # the test receiver's, made here


@dataclass
class Receiver:
    url: str
    requests: list[ExportMetricsServiceRequest] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve_receiver(answer: Answer | None = None) -> AsyncIterator[Receiver]:
    receiver = Receiver("")

    async def metrics(request: web.Request) -> web.StreamResponse:
        decoded = ExportMetricsServiceRequest()
        decoded.ParseFromString(await request.read())   # aiohttp has undone the gzip
        receiver.requests.append(decoded)
        receiver.headers.append(dict(request.headers))
        receiver.arrived.set()
        if answer is not None:
            return await answer(request)
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/metrics", metrics)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    receiver.url = str(server.make_url("/v1/metrics"))
    try:
        yield receiver
    finally:
        await server.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async for found in serve_receiver():
        yield found


def attributes(resource: Any) -> dict[str, str]:
    return {item.key: item.value.string_value for item in resource.attributes}


def gauges(request: ExportMetricsServiceRequest) -> dict[str, tuple[str, list[float]]]:
    """name → (unit, the values of its points), over every resource and scope."""
    found: dict[str, tuple[str, list[float]]] = {}
    for resource_metrics in request.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points = (metric.gauge.data_points if metric.HasField("gauge")
                          else metric.sum.data_points)
                found[metric.name] = (metric.unit, [point.as_double or float(point.as_int)
                                                    for point in points])
    return found


async def test_the_push_carries_the_exposition_s_instruments_and_who_sent_them(
    receiver: Receiver, make_client: MakeClient,
) -> None:
    client = await make_client(
        sampler={"interval": "100ms"}, alerts={"instance": "web-7"},
        telemetry={"otlp": {"endpoint": receiver.url, "interval": "1s",
                            "headers": {"x-api-key": API_KEY}}})
    await asyncio.wait_for(receiver.arrived.wait(), 10)
    request = receiver.requests[-1]
    sent = attributes(request.resource_metrics[0].resource)
    assert (sent["service.name"], sent["service.instance.id"]) == ("polyad", "web-7")
    assert sent["service.version"] and sent["host.name"]
    assert receiver.headers[-1]["x-api-key"] == API_KEY
    assert receiver.headers[-1]["Content-Encoding"] == "gzip"
    pushed = gauges(request)
    # the same instruments as the scrape: the memory limit is a constant of the host
    unit, (limit,) = pushed["system.memory.limit"]
    text = await (await client.get("/metrics/prom")).text()
    (scraped,) = [line for line in text.splitlines()
                  if line.startswith("system_memory_limit_bytes ")]
    assert unit == "By" and float(scraped.split()[1]) == limit
    assert pushed["system.cpu.utilization"][0] == "1"
    assert "http.server.request.duration" in pushed or "polyad.build.info" in pushed
    status = await (await client.get("/status")).json()
    assert status["components"]["otlp"]["status"] == "ok"


async def test_the_push_carries_the_request_durations(
    receiver: Receiver, make_client: MakeClient,
) -> None:
    client = await make_client(telemetry={"otlp": {"endpoint": receiver.url,
                                                   "interval": "1s"}})
    for _ in range(3):
        assert (await client.get("/status")).status == 200

    def durations() -> Any:
        for request in receiver.requests:
            for resource_metrics in request.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        if metric.name == "http.server.request.duration":
                            return metric
        return None

    deadline = asyncio.get_running_loop().time() + 10
    while (metric := durations()) is None:
        assert asyncio.get_running_loop().time() < deadline, "no request durations pushed"
        receiver.arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(receiver.arrived.wait(), 2)
    assert metric.unit == "s" and metric.HasField("histogram")
    assert metric.histogram.aggregation_temporality == 2   # cumulative
    (status,) = [point for point in metric.histogram.data_points
                 if {item.key: item.value.string_value for item in point.attributes}.get(
                     "http.route") == "/status"]
    assert status.count == 3 and sum(status.bucket_counts) == 3
    assert list(status.explicit_bounds) == list(HTTP_DURATION_BUCKETS_S)


@pytest.mark.parametrize("behaviour", ["refuses", "hangs"])
async def test_a_receiver_that_refuses_or_hangs_is_counted_and_slows_nothing(
    make_client: MakeClient, behaviour: str,
) -> None:
    async def refuse(_: web.Request) -> web.StreamResponse:
        return web.Response(status=503)

    async def hang(_: web.Request) -> web.StreamResponse:
        await asyncio.sleep(3600)
        return web.Response()

    async for receiver in serve_receiver(refuse if behaviour == "refuses" else hang):
        client = await make_client(
            sampler={"interval": "100ms"},
            telemetry={"otlp": {"endpoint": receiver.url, "interval": "1s",
                                "timeout": "500ms"}})
        await asyncio.wait_for(receiver.arrived.wait(), 10)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while True:
            started = loop.time()
            status = await (await client.get("/status")).json()
            assert loop.time() - started < 1.0           # the API is not waiting on it
            if status["components"]["otlp"]["status"] == "failed":
                break
            assert loop.time() < deadline, status["components"]["otlp"]
            await asyncio.sleep(0.1)
        assert status["status"] == "degraded"
        text = await (await client.get("/metrics/prom")).text()
        (counted,) = [line for line in text.splitlines()
                      if line.startswith("polyad_otlp_export_failures_total ")]
        assert float(counted.split()[1]) >= 1


def test_headers_come_from_the_config_and_a_file_of_name_value_lines(tmp_path: Any) -> None:
    from polyad.config.sections import OtlpConfig
    from polyad.errors import ConfigError
    from polyad.otlp import headers

    secrets = tmp_path / "otlp-headers"
    secrets.write_text("# the backend's key\nx-api-key: from-file\n\nx-tenant: ops\n")
    config = OtlpConfig.model_validate({"endpoint": "http://collector:4318/v1/metrics",
                                        "headers": {"x-api-key": "inline", "x-team": "a"},
                                        "headers_file": secrets})
    assert headers(config) == {"x-api-key": "from-file", "x-team": "a", "x-tenant": "ops"}
    assert "inline" not in repr(config)                     # a secret, also in a repr
    secrets.write_text("no colon here\n")
    with pytest.raises(ConfigError, match="line 1 is not 'Name: value'"):
        headers(config)
