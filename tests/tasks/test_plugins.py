"""Third-party handlers through the `polyad.handlers` entry-point group: the example plugin
(examples/polyad-vision, installed by `make test`) is found, runs, and a broken one is skipped."""

from __future__ import annotations

import asyncio
import base64
import io
from importlib.metadata import EntryPoint
from typing import Any

import pytest
from PIL import Image
from structlog.testing import capture_logs

from polyad.tasks import registry as registry_module
from polyad.tasks.builtin import BUILTIN_HANDLERS
from polyad.tasks.registry import HandlerRegistry
from tests.conftest import AppClient


def png(width: int, height: int, color: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


async def finished(client: AppClient, task_id: str) -> dict[str, Any]:
    for _ in range(200):
        body: dict[str, Any] = await (await client.get(f"/task/{task_id}")).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        await asyncio.sleep(0.02)
    raise AssertionError("the task did not finish")


async def test_the_example_plugin_is_registered_documented_and_runs(client: AppClient) -> None:
    document = await (await client.get("/openapi.json")).json()
    assert "TaskData_vision_stats" in document["components"]["schemas"]
    response = await client.post("/task", json={
        "type": "vision", "action": "stats", "data": {"image_base64": png(4, 3, (10, 20, 30))}})
    assert response.status == 202
    done = await finished(client, (await response.json())["task_id"])
    assert done["status"] == "succeeded", done
    assert done["result"] | {"mean": None} == {
        "format": "PNG", "mode": "RGB", "width": 4, "height": 3, "bands": ["R", "G", "B"],
        "mean": None, "min": [10, 20, 30], "max": [10, 20, 30]}


async def test_a_plugin_task_with_a_bad_image_fails_with_a_reason(client: AppClient) -> None:
    response = await client.post("/task", json={
        "type": "vision", "action": "stats", "data": {"image_base64": "bm90IGFuIGltYWdl"}})
    done = await finished(client, (await response.json())["task_id"])
    assert done["status"] == "failed"
    assert done["error"]["type"] == "ValueError"
    assert "not a readable image" in done["error"]["message"]


def test_a_broken_plugin_is_logged_and_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = EntryPoint(name="broken", value="no_such_module:handlers",
                        group=registry_module.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry_module, "entry_points", lambda group: [broken])
    with capture_logs() as logs:
        registry = HandlerRegistry.of(BUILTIN_HANDLERS)
    assert ("system", "noop") in registry and len(registry) == len(BUILTIN_HANDLERS)
    assert [log["event"] for log in logs] == ["task handler plugin not loaded"]
    assert logs[0]["plugin"] == "broken"
