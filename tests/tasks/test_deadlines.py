"""A request's own `timeout` and `deadline`, through the HTTP API on both backends."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import AppClient, MakeClient
from tests.tasks.helpers import submit, wait_for_status

PROBLEM = "application/problem+json"
LONG = {"type": "system", "action": "noop", "data": {"seconds": 30}}


def _in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def test_a_task_runs_no_longer_than_its_own_timeout(client: AppClient) -> None:
    accepted = await submit(client, {**LONG, "timeout": 0.2})
    failed = await wait_for_status(client, accepted["task_id"], "failed", timeout_s=5)
    assert failed["error"] == {"type": "timeout", "message": "no result within 0.2s"}
    assert failed["timeout_seconds"] == 0.2


async def test_a_timeout_over_the_handlers_own_is_422(client: AppClient) -> None:
    response = await client.post("/task", json={**LONG, "timeout": 3701})
    assert response.status == 422
    problem = await response.json(content_type=PROBLEM)
    assert "3700" in problem["detail"] and problem["errors"][0]["field"] == "timeout"
    for bad in (0, -1, "5", True):
        assert (await client.post("/task", json={**LONG, "timeout": bad})).status == 422, bad


async def test_a_task_still_queued_at_its_deadline_expires_without_running(
    make_client: MakeClient,
) -> None:
    client = await make_client(tasks={"workers": 1, "shutdown_grace": 0.5})
    blocker = await submit(client, LONG)
    await wait_for_status(client, blocker["task_id"], "running")
    deadline = _in(0.5)
    late = await submit(client, {**LONG, "deadline": deadline})
    queued = await (await client.get(f"/task/{late['task_id']}")).json()
    assert queued["status"] == "queued"
    shown = datetime.fromisoformat(queued["deadline"]) - datetime.fromisoformat(deadline)
    assert abs(shown.total_seconds()) < 0.001  # shown to the millisecond
    # the only worker stays busy: the deadline alone ends it
    expired = await wait_for_status(client, late["task_id"], "expired", timeout_s=5)
    assert expired["started_at"] is None and expired["attempts"] == 0
    assert expired["error"]["type"] == "deadline"
    assert expired["finished_at"] >= queued["deadline"]
    listed = await (await client.get("/tasks?status=expired")).json()
    assert [task["task_id"] for task in listed["tasks"]] == [late["task_id"]]
    # it left the queue: the next task runs as soon as the blocker is cancelled
    nxt = await submit(client, {"type": "system", "action": "noop"})
    await client.post(f"/task/{blocker['task_id']}/cancel")
    await wait_for_status(client, nxt["task_id"], "succeeded")


async def test_a_task_started_before_its_deadline_runs_to_its_end(client: AppClient) -> None:
    accepted = await submit(client, {"type": "system", "action": "noop",
                                     "data": {"seconds": 0.6}, "deadline": _in(0.3)})
    done = await wait_for_status(client, accepted["task_id"], "succeeded", "expired",
                                 timeout_s=5)
    assert done["status"] == "succeeded" and done["attempts"] == 1


async def test_bad_deadlines_are_422(client: AppClient) -> None:
    past = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    response = await client.post("/task", json={**LONG, "deadline": past})
    assert response.status == 422
    assert (await response.json(content_type=PROBLEM))["errors"][0]["field"] == "deadline"
    # no offset, Unix seconds, not a date
    for bad in ("2099-01-01T00:00:00", 4102444800, "4102444800", "tomorrow"):
        response = await client.post("/task", json={**LONG, "deadline": bad})
        assert response.status == 422, bad
        assert (await response.json(content_type=PROBLEM))["errors"][0]["field"] == "deadline"


@pytest.mark.parametrize("task_backend", ["redis"], indirect=True)  # it outlives the agent
async def test_an_agent_taking_a_task_past_its_deadline_ends_it_unrun(
    make_client: MakeClient,
) -> None:
    first = await make_client(tasks={"agent_id": "one", "workers": 1, "shutdown_grace": 0.1})
    blocker = await submit(first, LONG)
    await wait_for_status(first, blocker["task_id"], "running")
    late = await submit(first, {"type": "system", "action": "noop", "deadline": _in(0.5)})
    await first.close()  # before its deadline: nobody is there to see it pass
    deadline_s = datetime.fromisoformat(
        str((await _record(make_client, late["task_id"]))["deadline"])).timestamp()
    # the condition is the clock itself: sleep until just past it
    await asyncio.sleep(max(0.0, deadline_s - time.time()) + 0.01)
    again = await make_client(tasks={"agent_id": "one", "workers": 2, "shutdown_grace": 0.1})
    expired = await wait_for_status(again, late["task_id"], "expired", timeout_s=5)
    assert expired["started_at"] is None and expired["attempts"] == 0
    assert expired["error"]["type"] == "deadline"


async def _record(make_client: MakeClient, task_id: str) -> dict[str, object]:
    reader = await make_client(tasks={"agent_id": "reader", "workers": 1})
    record: dict[str, object] = await (await reader.get(f"/task/{task_id}")).json()
    assert record["status"] == "queued", record
    return record
