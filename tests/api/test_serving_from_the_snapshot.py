"""Requests read the newest Snapshot: they never touch the host, and render each body once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from polyad.collectors import build_collectors
from polyad.config import load_config
from polyad.views import render
from tests.conftest import MakeClient


class Counting:
    """Wraps a real collector and counts the times the host is read through it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.no_data = None
        self.calls = 0

    def collect(self) -> Any:
        self.calls += 1
        return self.inner.collect()

    def close(self) -> None:
        self.inner.close()


async def test_handlers_never_read_the_host(make_client: MakeClient) -> None:
    counted = [Counting(collector) for collector in build_collectors(load_config(
        environ={}).collectors)]
    client = await make_client(use_collectors=counted, sampler={"interval": "1h"})
    reads_at_start = [c.calls for c in counted]
    assert reads_at_start == [1] * len(counted)  # the one tick at start
    for path in ("/status", "/metrics", "/metrics/prom", "/readyz") * 3:
        response = await client.get(path)
        assert response.status == 200, (path, await response.text())
    assert [c.calls for c in counted] == reads_at_start


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
