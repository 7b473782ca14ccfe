"""Alerting through the agent: GET /alerts, the alerts on /metrics/prom, POST /-/reload that keeps
the old rules when the new file is wrong, and SIGHUP on a real agent process."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.agent_process import BIN, environment, free_port, get_json, wait_ready
from tests.conftest import AppClient, MakeClient, bearer, make_token

ALWAYS = """\
groups:
  - name: test
    interval: 200ms
    rules:
      - alert: {name}
        metric: memory.usage
        op: ">="
        threshold: 0
        labels: {{severity: info}}
        annotations: {{summary: "memory at {{{{ value }}}}%"}}
"""


def rules_file(tmp_path: Path, name: str = "MemoryInUse") -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(ALWAYS.format(name=name))
    return path


async def active(client: AppClient, count: int = 1) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = []
    for _ in range(50):
        alerts = (await (await client.get("/alerts")).json())["alerts"]
        if len(alerts) >= count:
            break
        await asyncio.sleep(0.05)
    return alerts


async def test_get_alerts_lists_what_fires_with_its_details(make_client: MakeClient,
                                                            tmp_path: Path) -> None:
    client = await make_client(alerts={"rule_files": [str(rules_file(tmp_path))],
                                       "instance": "test-host"})
    alerts = await active(client)
    assert [alert["name"] for alert in alerts] == ["MemoryInUse"]
    alert = alerts[0]
    assert alert["state"] == "firing" and alert["fired_at"] >= alert["active_at"]
    assert alert["labels"] == {"alertname": "MemoryInUse", "instance": "test-host",
                               "severity": "info"}
    assert alert["annotations"]["summary"].startswith("memory at ")
    assert alert["rule"].startswith(str(tmp_path)) and 0 <= alert["value"] <= 100
    text = await (await client.get("/metrics/prom")).text()
    assert 'polyad_alerts{alertname="MemoryInUse",severity="info",state="firing"} 1.0' in text


async def test_a_bad_reload_keeps_the_old_rules_and_says_why(make_client: MakeClient,
                                                           tmp_path: Path) -> None:
    path = rules_file(tmp_path)
    client = await make_client(alerts={"rule_files": [str(path)]})
    await active(client)
    path.write_text("groups:\n  - name: test\n    rules:\n      - alert: Broken\n"
                    "        metric: cpu.nope\n        op: '>'\n        threshold: 1\n")
    refused = await client.post("/-/reload")
    assert refused.status == 422
    problem = await refused.json(content_type="application/problem+json")
    assert any("cpu.nope" in error["message"] and ":5" in error["message"]
               for error in problem["errors"]), problem
    assert [alert["name"] for alert in await active(client)] == ["MemoryInUse"]
    status = await (await client.get("/status")).json()
    assert status["status"] == "degraded"
    assert status["components"]["alerts"]["status"] == "failed"

    rules_file(tmp_path, "MemoryStillInUse")
    reloaded = await client.post("/-/reload")
    assert reloaded.status == 200
    assert await reloaded.json() == {"status": "reloaded", "groups": 1, "rules": 1}
    names = [alert["name"] for alert in await active(client)]
    assert names == ["MemoryStillInUse"]
    assert (await (await client.get("/status")).json())["components"]["alerts"]["status"] == \
        "ok"


async def test_reload_needs_the_admin_scope(client: AppClient) -> None:
    refused = await client.post("/-/reload", headers=bearer(make_token(["read", "tasks"])))
    assert refused.status == 403


def test_a_bad_rule_file_stops_the_start_with_its_error(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text("groups:\n  - name: x\n    rules:\n      - alert: A\n"
                    "        metric: cpu.usage\n        op: '=~'\n        threshold: 1\n")
    env = {**environment(tmp_path), "POLYAD_ALERTS__RULE_FILES": f"[{path}]"}
    done = subprocess.run([str(BIN / "polyad"), "serve", "--port", str(free_port())], env=env,
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert "alert rules" in done.stderr and "=~" in done.stderr


def test_sighup_reloads_the_rules_of_a_running_agent(tmp_path: Path) -> None:
    path = rules_file(tmp_path)
    port = free_port()
    env = {**environment(tmp_path), "POLYAD_ALERTS__RULE_FILES": f"[{path}]"}
    with (tmp_path / "agent.log").open("wb") as log:
        process = subprocess.Popen([str(BIN / "polyad"), "serve", "--port", str(port)],
                                   env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_ready(port, process)
        rules_file(tmp_path, "RenamedBySighup")
        process.send_signal(signal.SIGHUP)
        names: list[str] = []
        for _ in range(50):
            body = get_json(f"http://127.0.0.1:{port}/alerts")
            names = [alert["name"] for alert in body["alerts"]]  # type: ignore[attr-defined]
            if names == ["RenamedBySighup"]:
                break
            time.sleep(0.1)
        assert names == ["RenamedBySighup"]
        assert process.poll() is None  # still serving
    finally:
        process.terminate()
        process.wait(10)
