"""A real Alertmanager (Debian's prometheus-alertmanager) receives polyad's own alerts: firing
with polyad's labels, then resolved when the rule is gone after a reload."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent_process import free_port
from tests.conftest import MakeClient

RULES = """\
groups:
  - name: e2e
    interval: 1s
    rules:
      - alert: MemoryInUse
        metric: memory.usage
        op: ">="
        threshold: 0
        labels: {severity: info}
        annotations: {summary: "memory at {{ value }}% on {{ host }}"}
"""
AM_CONFIG = """\
route: {receiver: nobody, group_by: [alertname, instance]}
receivers: [{name: nobody}]
"""


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert binary, "alertmanager is missing: `make test` installs prometheus-alertmanager"
    config = tmp_path / "alertmanager.yml"
    config.write_text(AM_CONFIG)
    port = free_port()
    with (tmp_path / "alertmanager.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.path={tmp_path / 'am-data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
            stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: am_get(url, "/-/ready") is not None, "alertmanager ready")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def am_get(url: str, path: str) -> Any:
    try:
        with urllib.request.urlopen(url + path, timeout=2) as response:
            return json.loads(response.read() or b"null") if path.startswith("/api") else True
    except OSError:
        return None


def wait_for(check: Any, what: str, timeout_s: float = 20) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def alerts_in(url: str, *, active: bool) -> list[dict[str, Any]]:
    query = f"/api/v2/alerts?active={'true' if active else 'false'}&inhibited=false&silenced=false"
    found: list[dict[str, Any]] = await asyncio.to_thread(am_get, url, query) or []
    return [alert for alert in found if alert["labels"].get("alertname") == "MemoryInUse"]


async def test_alertmanager_receives_polyads_alert_and_its_resolution(
    make_client: MakeClient, alertmanager: str, tmp_path: Path,
) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    client = await make_client(
        alerts={"rule_files": [str(rules)], "instance": "e2e-host"},
        notifiers={"alertmanager": {"urls": [alertmanager]}})
    received: list[dict[str, Any]] = []
    for _ in range(100):
        received = await alerts_in(alertmanager, active=True)
        if received:
            break
        await asyncio.sleep(0.1)
    assert received, "the alert never reached Alertmanager"
    assert received[0]["labels"] == {"alertname": "MemoryInUse", "instance": "e2e-host",
                                     "severity": "info"}
    assert received[0]["annotations"]["summary"].endswith("% on e2e-host")
    listed = await (await client.get("/alerts")).json()
    assert [alert["name"] for alert in listed["alerts"]] == ["MemoryInUse"]

    rules.write_text("groups: []\n")
    reloaded = await client.post("/-/reload")
    assert reloaded.status == 200 and (await reloaded.json())["rules"] == 0
    for _ in range(100):
        if not await alerts_in(alertmanager, active=True):
            break
        await asyncio.sleep(0.1)
    assert not await alerts_in(alertmanager, active=True), "still active after resolving"
