"""Every collector on the made-up host (tests/fixtures/host) and a fake GPU at NVML's edge: the
whole `GET /metrics` document and every collector's series in `/metrics/prom` are compared with
committed files, as node_exporter's end-to-end test does, so any change to a metric shows up as
a reviewable diff. `make update-golden` (UPDATE_GOLDEN=1) rewrites them."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

from polyad.alerts.export import prometheus_name
from polyad.api.keys import SAMPLER
from polyad.catalog import catalog
from polyad.collectors import build_collectors
from polyad.collectors.filesystem import FilesystemCollector
from polyad.collectors.gpu import GpuCollector
from polyad.config import load_config
from tests.conftest import AppClient, MakeClient
from tests.fakes.nvml import FakeGpu, FakeNvml
from tests.fixtures import make_host
from tests.promtool import check_metrics

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
# What says when, not what the host is: left out of the comparison.
_MOMENTS = ("sampled_at", "duration_seconds")
_AGENT_FAMILIES = ("polyad_collector_duration_seconds", "polyad_uptime_seconds_total")


async def on_fixture_host(make_client: MakeClient, host: dict[str, Any]) -> AppClient:
    config = load_config(environ={}, overrides={"host": host, "collectors": {
        "gpu": {"enabled": False}, "filesystem": {"enabled": False}}})
    collectors = [*build_collectors(config.collectors, config.host),
                  GpuCollector(FakeNvml([FakeGpu(), FakeGpu(uuid="GPU-1", temperature=71)])),
                  # the made-up host's sizes: statvfs of its tree would be this machine's
                  FilesystemCollector(config.host.procfs, config.host.rootfs, network=True,
                                      statvfs=make_host.statvfs)]
    client = await make_client(use_collectors=collectors, host=host,
                               sampler={"interval": "300ms"})
    await second_sample(client)
    return client


async def second_sample(client: AppClient) -> None:
    """Rates need two samples: the first tick's are null, every later one's the same. And a
    tick in which every collector answered in time: on a loaded machine one may run past the
    tick's timeout, and its piece is null for that tick (seen once on a 2-core CI run)."""
    sampler = client.app[SAMPLER]
    async with asyncio.timeout(20):
        while True:
            snapshot = sampler.snapshot
            if snapshot is not None and snapshot.seq >= 2 and all(
                    report.ok for report in snapshot.reports.values()):
                return
            await asyncio.sleep(0.02)


def _without_moments(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_moments(item) for key, item in value.items()
                if key not in _MOMENTS}
    if isinstance(value, list):
        return [_without_moments(item) for item in value]
    return value


def collectors_series(exposition: str) -> str:
    """The exposition's lines (HELP, TYPE, samples) of the collectors' catalog families."""
    families = {prometheus_name(spec) for spec in catalog() if spec.otel_name}
    families -= set(_AGENT_FAMILIES)
    kept = []
    for line in exposition.splitlines():
        name = line.split(" ")[2] if line.startswith("#") else re.split(r"[{ ]", line)[0]
        if name in families:
            kept.append(line)
    return "\n".join(kept) + "\n"


def compare(actual: str, name: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
    assert actual == path.read_text(), f"{name} changed: review it, then `make update-golden`"


async def test_the_metrics_document_is_the_golden_one(make_client: MakeClient,
                                                       fixture_host: dict[str, Any]) -> None:
    client = await on_fixture_host(make_client, fixture_host)
    document = _without_moments(await (await client.get("/metrics")).json())
    compare(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "metrics.json")


async def test_the_exposition_is_the_golden_one(make_client: MakeClient,
                                                fixture_host: dict[str, Any]) -> None:
    client = await on_fixture_host(make_client, fixture_host)
    exposition = await (await client.get("/metrics/prom")).text()
    compare(collectors_series(exposition), "metrics.prom")


async def test_the_whole_host_s_exposition_passes_promtool(make_client: MakeClient,
                                                           fixture_host: dict[str, Any]) -> None:
    """Every collector at once, disks, mounts, pressure, fans and GPU health included."""
    client = await on_fixture_host(make_client, fixture_host)
    result = check_metrics(await (await client.get("/metrics/prom")).text())
    assert result.returncode == 0, result.stdout + result.stderr
