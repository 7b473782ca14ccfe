"""The task API tests run on both queue backends: in memory, and on a real Redis."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import REDIS_URL, AppClient, MakeClient


@pytest.fixture(params=["memory", "redis"])
def task_backend(request: pytest.FixtureRequest, redis_prefix: str) -> dict[str, Any]:
    """Configuration overrides that choose the backend (a private Redis key prefix)."""
    if request.param == "memory":
        return {"tasks": {"backend": "memory"}}
    return {"tasks": {"backend": "redis"}, "redis": {"url": REDIS_URL, "prefix": redis_prefix}}


@pytest.fixture
def make_client(make_client: MakeClient, task_backend: dict[str, Any]) -> MakeClient:
    async def make(**overrides: Any) -> AppClient:
        tasks = {**task_backend["tasks"], **overrides.pop("tasks", {})}
        return await make_client(**{**task_backend, **overrides, "tasks": tasks})

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> AppClient:
    return await make_client()
