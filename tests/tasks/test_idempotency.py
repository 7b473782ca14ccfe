"""Idempotency-Key on POST /task, through the HTTP API on both task backends: a retry with the
same key and request gets the first task (one task, not two), the same key with another request
is a 422, keys are per identity, a malformed key is a 422, and a submission refused (the queue
full) gives its key back. On Redis, the key works across agents of a fleet."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import AppClient, MakeClient, bearer, make_token

NOOP = {"type": "system", "action": "noop", "data": {"seconds": 0}}


async def submit(client: AppClient, key: str | None, body: dict[str, Any] = NOOP,
                 token: str | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = {"Idempotency-Key": key} if key is not None else {}
    if token is not None:
        headers |= bearer(token)
    response = await client.post("/task", json=body, headers=headers)
    return response.status, await response.json(), dict(response.headers)


async def test_a_retry_with_the_key_gets_the_first_task(client: AppClient) -> None:
    status, first, headers = await submit(client, "order-42")
    assert status == 202 and "Idempotent-Replayed" not in headers
    status, again, headers = await submit(client, "order-42")
    assert status == 202 and headers["Idempotent-Replayed"] == "true"
    assert again["task_id"] == first["task_id"]
    listed = await (await client.get("/tasks?type=system")).json()
    assert [task["task_id"] for task in listed["tasks"]] == [first["task_id"]]   # one task
    status, other, _ = await submit(client, None)
    assert status == 202 and other["task_id"] != first["task_id"]       # no key: a new task


async def test_the_key_with_another_request_is_a_422_and_keys_are_per_identity(
    client: AppClient,
) -> None:
    status, first, _ = await submit(client, "job-1")
    assert status == 202
    changed = {**NOOP, "data": {"seconds": 1}}
    status, problem, _ = await submit(client, "job-1", changed)
    assert status == 422 and "another request" in problem["detail"]
    status, theirs, _ = await submit(client, "job-1", token=make_token(subject="someone-else"))
    assert status == 202 and theirs["task_id"] != first["task_id"]


@pytest.mark.parametrize("key", ["", "with space", "x" * 256, "naïve"])
async def test_a_malformed_key_is_a_422(client: AppClient, key: str) -> None:
    status, problem, _ = await submit(client, key)
    assert status == 422 and "Idempotency-Key" in problem["detail"]


async def test_a_refused_submission_gives_its_key_back(make_client: MakeClient) -> None:
    client = await make_client(tasks={"workers": 1, "max_queued": 1, "shutdown_grace": 0})
    await submit(client, None, {**NOOP, "data": {"seconds": 5}})       # runs
    await asyncio.sleep(0)
    deadline = asyncio.get_running_loop().time() + 5
    while (await submit(client, None, {**NOOP, "data": {"seconds": 5}}))[0] == 202:
        assert asyncio.get_running_loop().time() < deadline             # until the queue is full
    status, _, _ = await submit(client, "retry-me")
    assert status == 503                                                 # full: not queued
    status, problem, _ = await submit(client, "retry-me", {**NOOP, "data": {"seconds": 1}})
    assert status == 503, problem    # the key was given back: another request may use it now


async def test_a_retry_through_another_agent_is_the_first_task_only_on_redis(
    make_client: MakeClient, task_backend: dict[str, Any],
) -> None:
    """Keys live where the tasks do: shared by a fleet on Redis, each agent's own in memory."""
    first_agent, second_agent = await make_client(), await make_client()
    _, first, _ = await submit(first_agent, "fleet-key")
    status, again, headers = await submit(second_agent, "fleet-key")
    assert status == 202
    if task_backend["tasks"]["backend"] == "redis":
        assert (again["task_id"], headers["Idempotent-Replayed"]) == (first["task_id"], "true")
    else:
        assert again["task_id"] != first["task_id"] and "Idempotent-Replayed" not in headers
