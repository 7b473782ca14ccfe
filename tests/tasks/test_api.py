"""The task API end to end through the real app: accept, run, report, cancel, refuse."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import AppClient, MakeClient
from tests.tasks.helpers import submit, wait_for_status

PROBLEM = "application/problem+json"
SEED_TASK = {"type": "system", "action": "monitor",
             "data": {"components": ["cpu", "memory", "gpu"]}}


async def test_the_seed_example_is_accepted_and_succeeds(client: AppClient) -> None:
    accepted = await submit(client, SEED_TASK)
    assert accepted["status"] == "accepted" and accepted["priority"] == "normal"
    assert isinstance(accepted["estimated_time"], str) and accepted["estimated_seconds"] >= 0
    done = await wait_for_status(client, accepted["task_id"], "succeeded", "failed")
    assert done["status"] == "succeeded", done
    assert done["progress"] == 1.0 and done["attempts"] == 1 and done["error"] is None
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]
    assert set(done["result"]["summary"]) <= {"cpu.usage", "memory.usage",
                                              "memory.available_bytes", "gpu.usage",
                                              "gpu.temperature"}
    assert "memory.usage" in done["result"]["samples"][0]


async def test_monitor_over_a_duration_reports_progress_and_min_avg_max(
    client: AppClient,
) -> None:
    task = {"type": "system", "action": "monitor",
            "data": {"components": ["memory"], "duration": 0.6, "interval": 0.2}}
    accepted = await submit(client, task)
    running = await wait_for_status(client, accepted["task_id"], "running")
    await asyncio.sleep(0.3)
    midway = (await (await client.get(f"/task/{accepted['task_id']}")).json())["progress"]
    done = await wait_for_status(client, accepted["task_id"], "succeeded")
    assert running["started_at"] is not None and 0 < midway < 1
    assert len(done["result"]["samples"]) >= 3
    stats = done["result"]["summary"]["memory.usage"]
    assert stats["min"] <= stats["avg"] <= stats["max"]


async def test_unknown_pairs_and_bad_data_are_422_naming_what_is_known(
    client: AppClient,
) -> None:
    response = await client.post("/task", json={"type": "vision", "action": "detect"})
    assert response.status == 422
    detail = (await response.json(content_type=PROBLEM))["detail"]
    assert "vision.detect" in detail
    for pair in ("system.monitor", "system.noop", "system.processes", "system.snapshot"):
        assert pair in detail
    response = await client.post("/task", json={"type": "system", "action": "noop",
                                                "data": {"seconds": "five", "extra": 1}})
    errors = (await response.json(content_type=PROBLEM))["errors"]
    assert {error["field"] for error in errors} == {"data.seconds", "data.extra"}


async def test_cancel_a_queued_task_at_once_and_a_running_one_cooperatively(
    make_client: MakeClient,
) -> None:
    client = await make_client(tasks={"workers": 1})
    running = await submit(client, {"type": "system", "action": "noop", "data": {"seconds": 30}})
    queued = await submit(client, {"type": "system", "action": "noop", "data": {"seconds": 30}})
    await wait_for_status(client, running["task_id"], "running")
    cancelled = await (await client.post(f"/task/{queued['task_id']}/cancel")).json()
    assert cancelled["status"] == "cancelled" and cancelled["started_at"] is None
    await client.post(f"/task/{running['task_id']}/cancel")
    stopped = await wait_for_status(client, running["task_id"], "cancelled", timeout_s=2)
    assert stopped["finished_at"] is not None
    again = await client.post(f"/task/{running['task_id']}/cancel")
    assert again.status == 409
    # the worker survived the cancellation and takes new work
    after = await submit(client, {"type": "system", "action": "noop"})
    await wait_for_status(client, after["task_id"], "succeeded")


async def test_a_full_queue_is_503_with_retry_after(make_client: MakeClient) -> None:
    client = await make_client(tasks={"workers": 1, "max_queued": 2, "shutdown_grace": 0.5})
    long = {"type": "system", "action": "noop", "data": {"seconds": 30}}
    first = await submit(client, long)
    await wait_for_status(client, first["task_id"], "running")
    await submit(client, long)
    await submit(client, long)
    response = await client.post("/task", json=long)
    assert response.status == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert "full" in (await response.json(content_type=PROBLEM))["detail"]


async def test_a_task_past_its_timeout_fails_with_type_timeout(make_client: MakeClient) -> None:
    client = await make_client()
    app = client.app
    assert app is not None
    from polyad.api.keys import TASKS
    from polyad.tasks.builtin import NoopData, noop
    from polyad.tasks.registry import Handler
    app[TASKS].register(Handler("test", "slow", NoopData, noop, timeout_s=0.1))
    accepted = await submit(client, {"type": "test", "action": "slow", "data": {"seconds": 5}})
    failed = await wait_for_status(client, accepted["task_id"], "failed", timeout_s=3)
    assert failed["error"]["type"] == "timeout"


async def test_high_priority_runs_before_earlier_normal_work(make_client: MakeClient) -> None:
    client = await make_client(tasks={"workers": 1})
    blocker = await submit(client, {"type": "system", "action": "noop",
                                    "data": {"seconds": 0.3}})
    await wait_for_status(client, blocker["task_id"], "running")
    normal = await submit(client, {"type": "system", "action": "noop"})
    high = await submit(client, {"type": "system", "action": "noop", "priority": "high"})
    done_normal = await wait_for_status(client, normal["task_id"], "succeeded")
    done_high = await wait_for_status(client, high["task_id"], "succeeded")
    assert done_high["started_at"] <= done_normal["started_at"]
    # the estimate counts the work ahead: a task behind the 0.3 s blocker expects to wait
    assert normal["estimated_seconds"] >= 0


async def test_list_is_newest_first_filtered_and_bounded(client: AppClient) -> None:
    ids = [(await submit(client, {"type": "system", "action": "noop"}))["task_id"]
           for _ in range(3)]
    for task_id in ids:
        await wait_for_status(client, task_id, "succeeded")
    listed = await (await client.get("/tasks?status=succeeded&type=system&limit=2")).json()
    assert [task["task_id"] for task in listed["tasks"]] == ids[::-1][:2]
    assert (await client.get("/tasks?status=lost")).status == 422
    assert (await client.get("/tasks?limit=0")).status == 422
    assert (await (await client.get("/tasks?type=vision")).json())["tasks"] == []


async def test_unknown_and_malformed_ids_are_404(client: AppClient) -> None:
    assert (await client.get("/task/" + "0" * 32)).status == 404
    assert (await client.get("/task/" + "A" * 32)).status == 404
    assert (await client.delete("/task/not-an-id")).status == 404
    assert (await client.post("/task/" + "0" * 32 + "/cancel")).status == 404


async def test_processes_and_snapshot_handlers_return_real_data(client: AppClient) -> None:
    processes = await submit(client, {"type": "system", "action": "processes",
                                      "data": {"top": 3, "sort_by": "memory"}})
    snapshot = await submit(client, {"type": "system", "action": "snapshot"})
    top = (await wait_for_status(client, processes["task_id"], "succeeded"))["result"]
    assert len(top["processes"]) == 3
    memory = [row["memory_percent"] for row in top["processes"]]
    assert memory == sorted(memory, reverse=True)
    view = (await wait_for_status(client, snapshot["task_id"], "succeeded"))["result"]
    assert {"cpu", "memory", "gpu", "network"} <= set(view)


async def test_task_metrics_are_exposed(make_client: MakeClient) -> None:
    client = await make_client(sampler={"interval": "100ms"})
    accepted = await submit(client, {"type": "system", "action": "noop"})
    await wait_for_status(client, accepted["task_id"], "succeeded")
    text = ""
    for _ in range(30):
        text = await (await client.get("/metrics/prom")).text()
        if "polyad_tasks_completed_total" in text:
            break
        await asyncio.sleep(0.1)
    completed = 'polyad_tasks_completed_total{action="noop",status="succeeded",type="system"} 1.0'
    assert completed in text
    assert 'polyad_tasks_queued{priority="low"}' in text
    assert "polyad_task_duration_seconds_count" in text and "polyad_task_wait_seconds_count" in text


async def test_a_worker_survives_its_own_bookkeeping_failing(make_client: MakeClient) -> None:
    client = await make_client(tasks={"workers": 1})
    assert client.app is not None
    from polyad.api.keys import TASKS
    manager = client.app[TASKS]
    real_record = manager._duration_histogram.record
    calls = {"count": 0}

    def broken_once(*args: Any, **kwargs: Any) -> None:
        calls["count"] += 1
        if calls["count"] == 1:
            raise RuntimeError("metrics backend hiccup")
        real_record(*args, **kwargs)

    manager._duration_histogram.record = broken_once  # type: ignore[method-assign]
    first = await submit(client, {"type": "system", "action": "noop"})
    failed = await wait_for_status(client, first["task_id"], "succeeded", "failed")
    assert failed["status"] in ("succeeded", "failed")  # it ended, whichever way
    second = await submit(client, {"type": "system", "action": "noop"})
    assert (await wait_for_status(client, second["task_id"], "succeeded"))["status"] == \
        "succeeded"


@pytest.mark.parametrize("task_backend", ["redis"], indirect=True)  # what agents share
async def test_agents_sharing_redis_read_and_cancel_each_others_tasks(
    make_client: MakeClient,
) -> None:
    home = await make_client(tasks={"agent_id": "home"})
    other = await make_client(tasks={"agent_id": "other"})
    accepted = await submit(home, {"type": "system", "action": "noop", "data": {"seconds": 30}})
    await wait_for_status(other, accepted["task_id"], "running")  # read through Redis
    assert (await other.post(f"/task/{accepted['task_id']}/cancel")).status == 200
    stopped = await wait_for_status(home, accepted["task_id"], "cancelled", timeout_s=3)
    assert stopped["finished_at"] is not None
    seen_elsewhere = await (await other.get(f"/task/{accepted['task_id']}")).json()
    assert seen_elsewhere["status"] == "cancelled"
