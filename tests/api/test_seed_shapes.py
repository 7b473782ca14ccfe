"""GET /status and GET /metrics carry the seed document's fields, key by key and type by type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polyad.alerts.rules import load_rules, resolve_rule_files
from polyad.config import load_config
from polyad.views.render import metrics_view, status_view
from tests.conftest import AppClient, MakeClient
from tests.fakes.samples import full_snapshot

# The seed document's examples, as written there.
SEED_STATUS: dict[str, Any] = {
    "status": "running",
    "uptime": "1h 30m",
    "resources": {"cpu": 25, "memory": 45, "gpu": 15},
    "cache": {"size": "1.2GB", "hits": 12345, "misses": 123},
}
SEED_METRICS: dict[str, Any] = {
    "cpu": {"usage": 35, "temperature": 55},
    "memory": {"usage": 45, "available": "8GB"},
    "gpu": {"usage": 20, "temperature": 65},
    "network": {"upload": "1Mbps", "download": "10Mbps"},
}


def assert_same_shape(seed: dict[str, Any], actual: dict[str, Any], where: str = "") -> None:
    for key, seed_value in seed.items():
        assert key in actual, f"{where}{key} is missing"
        value = actual[key]
        if isinstance(seed_value, dict):
            assert isinstance(value, dict), f"{where}{key} should be an object"
            assert_same_shape(seed_value, value, f"{where}{key}.")
        elif isinstance(seed_value, str):
            assert isinstance(value, str), f"{where}{key} should be a string, got {value!r}"
        else:
            assert isinstance(value, int | float) and not isinstance(value, bool), (
                f"{where}{key} should be a number, got {value!r}")


def test_a_known_snapshot_renders_the_seed_examples_values() -> None:
    snapshot = full_snapshot()
    metrics = metrics_view(snapshot).model_dump(mode="json")
    assert_same_shape(SEED_METRICS, metrics)
    assert metrics["cpu"] | {"cores": None, "load_average": None} == {
        "usage": 35.0, "temperature": 55.0, "cores": None, "load_average": None}
    assert metrics["memory"]["available"] == "8GB"
    assert metrics["memory"]["available_bytes"] == 8 * 1024**3
    assert (metrics["gpu"]["usage"], metrics["gpu"]["temperature"]) == (20.0, 65.0)
    assert metrics["network"]["upload"] == "1Mbps"
    assert metrics["network"]["download"] == "10Mbps"
    assert metrics["network"]["upload_bps"] == 1_000_000.0
    assert metrics["cpu"]["load_average"] == {"1m": 0.5, "5m": 0.25, "15m": 0.125}
    assert metrics["sampled_at"] == "2024-03-21T07:50:00.000Z"

    status = status_view(snapshot, load_config(environ={})).model_dump(mode="json")
    assert_same_shape(SEED_STATUS, status)
    assert status["uptime"] == "1h 30m" and status["uptime_seconds"] == 5400.0
    assert status["resources"] == {"cpu": 35.0, "memory": 50.0, "gpu": 20.0}
    assert status["status"] == "running"


def test_a_host_without_gpu_keeps_the_shape_with_nulls() -> None:
    metrics = metrics_view(full_snapshot(gpus=())).model_dump(mode="json")
    assert metrics["gpu"] == {"usage": None, "temperature": None, "count": 0,
                              "driver_version": "560.35.03", "devices": []}


async def test_status_on_the_real_app_has_the_seed_shape(client: AppClient) -> None:
    response = await client.get("/status")
    assert response.status == 200
    assert response.content_type == "application/json"
    body = await response.json()
    assert_same_shape({k: v for k, v in SEED_STATUS.items() if k != "resources"}, body)
    assert set(body["resources"]) == {"cpu", "memory", "gpu"}
    assert isinstance(body["resources"]["memory"], float)
    assert body["status"] in ("running", "degraded")
    assert body["cache"] == {"size": "0B", "size_bytes": 0, "hits": 0, "misses": 0}
    assert set(body["components"]) == {"collector.cpu", "collector.memory", "collector.gpu",
                                       "collector.sensors", "collector.network", "collector.system",
                                       "collector.disk", "collector.filesystem", "rate_limit",
                                       "cache", "alerts"}
    assert body["components"]["cache"] == {"status": "ok", "detail": "memory backend"}
    assert body["components"]["alerts"]["status"] == "ok"
    groups = load_rules(resolve_rule_files([], Path.cwd()))  # the built-in host rules
    assert body["components"]["alerts"]["detail"] == (
        f"{sum(len(group.rules) for group in groups)} rules in {len(groups)} groups")
    assert body["components"]["rate_limit"] == {"status": "ok", "detail": "memory storage"}


async def test_metrics_on_the_real_app_has_the_seed_shape(client: AppClient) -> None:
    response = await client.get("/metrics")
    assert response.status == 200
    body = await response.json()
    # This host may lack a GPU or sensors (null there), so only present values are typed.
    for section, fields in SEED_METRICS.items():
        for name, seed_value in fields.items():
            assert name in body[section], f"{section}.{name} missing"
            value = body[section][name]
            if value is not None:
                assert isinstance(value, type(seed_value) if isinstance(seed_value, str)
                                  else int | float)
    assert body["memory"]["available"].endswith("B")
    assert body["memory"]["total_bytes"] > 0
    assert [core["cpu"] for core in body["cpu"]["cores"]] == list(range(len(body["cpu"]["cores"])))
    assert {c["name"] for c in body["collectors"]} == {"cpu", "memory", "gpu", "sensors", "system",
                                                      "network", "disk", "filesystem"}


async def test_disabled_collectors_keep_the_shape_and_say_disabled(
    make_client: MakeClient,
) -> None:
    client = await make_client(collectors={"gpu": {"enabled": False},
                                           "network": {"enabled": False}})
    status = await (await client.get("/status")).json()
    assert status["components"]["collector.gpu"] == {"status": "disabled", "detail": None}
    assert status["status"] == "running"
    metrics = await (await client.get("/metrics")).json()
    assert metrics["gpu"]["devices"] == [] and metrics["network"]["upload"] is None
    assert {c["name"] for c in metrics["collectors"]} == {"cpu", "memory", "sensors", "system",
                                                         "disk", "filesystem"}
