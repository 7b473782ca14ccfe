"""Submitting a task over HTTP and waiting for it to reach a status."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import AppClient

__all__ = ["submit", "wait_for_status"]


async def wait_for_status(client: AppClient, task_id: str, *statuses: str,
                          timeout_s: float = 10) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        body: dict[str, Any] = await (await client.get(f"/task/{task_id}")).json()
        if body["status"] in statuses:
            return body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.02)


async def submit(client: AppClient, task: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/task", json=task)
    assert response.status == 202, await response.text()
    body: dict[str, Any] = await response.json()
    assert response.headers["Location"] == f"/task/{body['task_id']}"
    return body
