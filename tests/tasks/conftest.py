"""The task API tests run on both queue backends: in memory, and on a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
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
async def make_client(make_client: MakeClient,
                      task_backend: dict[str, Any]) -> AsyncIterator[MakeClient]:
    made: list[AppClient] = []

    async def make(**overrides: Any) -> AppClient:
        tasks = {**task_backend["tasks"], **overrides.pop("tasks", {})}
        client = await make_client(**{**task_backend, **overrides, "tasks": tasks})
        made.append(client)
        return client

    yield make
    # the agents stop before the Redis prefix is cleaned up (what they write while stopping
    # would outlive it otherwise)
    for client in made:
        await client.close()


@pytest.fixture
async def client(make_client: MakeClient) -> AppClient:
    return await make_client()
