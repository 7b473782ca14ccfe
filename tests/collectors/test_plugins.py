"""A collector from outside polyad (examples/polyad-entropy), installed in a scratch directory
with its entry point as pip would write it, reaches every door with no edit to polyad: the
config, GET /metrics, /metrics/prom, the OpenAPI document, /status, system.monitor and alert
rules."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent_process import Agent, environment, get_json
from tests.conftest import bearer, make_token
from tests.test_cli import run_cli

PLUGIN_SOURCE = Path(__file__).parents[2] / "examples" / "polyad-entropy"


def installed(tmp_path: Path) -> dict[str, str]:
    """What `pip install` leaves for importlib.metadata to find: a dist-info with the entry
    point, on the path; the environment a process needs to see it."""
    dist_info = tmp_path / "site" / "polyad_entropy-0.1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: polyad-entropy\nVersion: 0.1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[polyad.collectors]\nentropy = polyad_entropy:SPEC\n")
    return {"PYTHONPATH": f"{PLUGIN_SOURCE}:{tmp_path / 'site'}"}


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    settings = {**environment(tmp_path), **installed(tmp_path),
                "POLYAD_COLLECTORS__ENTROPY__ENABLED": "true",
                "POLYAD_SAMPLER__INTERVAL": "200ms"}
    started = Agent(settings, tmp_path / "agent.log")
    started.start()
    yield started
    started.stop()


def read(url: str, token: str) -> str:
    request = urllib.request.Request(url, headers=bearer(token))
    with urllib.request.urlopen(request, timeout=5) as response:
        return str(response.read().decode())


def test_an_installed_collector_reaches_every_door(agent: Agent) -> None:
    token, base = make_token(), f"http://127.0.0.1:{agent.port}"
    entropy = get_json(f"{base}/metrics", token)["entropy"]
    assert isinstance(entropy, dict) and entropy["available_bits"] > 0
    assert "\npolyad_entropy_available " in read(f"{base}/metrics/prom", token)
    schema = get_json(f"{base}/openapi.json")["components"]["schemas"]  # type: ignore[index]
    assert "entropy" in schema["MetricsResponse"]["properties"]
    status = get_json(f"{base}/status", token)["components"]
    assert status["collector.entropy"] == {"status": "ok", "detail": None}  # type: ignore[index]

    task_id = submit_monitor(agent.port, token)
    result = wait_for_result(base, token, task_id)
    assert result["samples"][0]["entropy.available_bits"] > 0


def submit_monitor(port: int, token: str) -> str:
    body = json.dumps({"type": "system", "action": "monitor",
                       "data": {"components": ["entropy"]}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/task", data=body, method="POST",
                                     headers={**bearer(token),
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        task_id: str = json.load(response)["task_id"]
        return task_id


def wait_for_result(base: str, token: str, task_id: str) -> dict[str, list[dict[str, float]]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        record = get_json(f"{base}/task/{task_id}", token)
        if record["status"] == "succeeded":
            return record["result"]  # type: ignore[return-value]
        assert record["status"] in ("queued", "running"), record
        time.sleep(0.05)
    raise AssertionError("the monitor task did not end in 10 s")


def test_alert_rules_may_name_its_metrics_once_it_is_installed(tmp_path: Path) -> None:
    rules = tmp_path / "entropy.yml"
    rules.write_text("groups:\n  - name: entropy\n    rules:\n      - alert: LowEntropy\n"
                     "        metric: entropy.available_bits\n        op: \"<\"\n"
                     "        threshold: 128\n")
    assert run_cli("rules", "check", str(rules), tmp_path=tmp_path,
                   env=installed(tmp_path)).returncode == 0
    without = run_cli("rules", "check", str(rules), tmp_path=tmp_path)
    assert without.returncode == 1 and "entropy.available_bits" in without.stdout + without.stderr
