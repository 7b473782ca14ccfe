"""Requests read the newest Snapshot: they never touch the host, and render each body once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psutil
import pytest

from polyad.api import render
from tests.conftest import MakeClient

HOST_READERS = ("cpu_times", "cpu_percent", "getloadavg", "virtual_memory", "swap_memory",
                "net_io_counters", "net_if_stats", "sensors_temperatures")


def refuse(name: str) -> Callable[..., Any]:
    def called(*_: Any, **__: Any) -> Any:
        raise AssertionError(f"a request handler called psutil.{name}")
    return called


async def test_handlers_never_read_the_host(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await make_client(sampler={"interval": "1h"})  # one tick, at start
    for name in HOST_READERS:
        monkeypatch.setattr(psutil, name, refuse(name), raising=False)
    monkeypatch.setattr("pynvml.nvmlInit", refuse("nvmlInit"))
    for path in ("/status", "/metrics", "/metrics/prom", "/readyz"):
        response = await client.get(path)
        assert response.status == 200, (path, await response.text())


async def test_each_json_body_is_rendered_once_per_snapshot(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await make_client(sampler={"interval": "1h"})
    calls = {"metrics": 0, "status": 0}

    def counting(view: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            calls[view] += 1
            return real(*args)
        return wrapper

    monkeypatch.setattr(render, "metrics_view", counting("metrics", render.metrics_view))
    monkeypatch.setattr(render, "status_view", counting("status", render.status_view))
    bodies = {await (await client.get("/metrics")).read() for _ in range(3)}
    statuses = {await (await client.get("/status")).read() for _ in range(3)}
    assert len(bodies) == 1 and len(statuses) == 1
    assert calls == {"metrics": 1, "status": 1}
