"""GPU-aware placement through the HTTP API, on both backends: a task whose handler needs a GPU
runs where a (fake, at NVML's edge) GPU has the memory it asks for free; with no shared pool a
host that could never run it says why (422); on a shared Redis it waits for an agent with room."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from polyad.api.keys import TASKS
from polyad.collectors.gpu import GpuCollector, GpuSample
from polyad.collectors.memory import MemoryCollector
from polyad.tasks.registry import Handler, TaskContext
from tests.conftest import AppClient, MakeClient
from tests.fakes.nvml import FakeGpu, FakeNvml
from tests.tasks.helpers import submit, wait_for_status

PROBLEM = "application/problem+json"
GIB_MB = 1024


class Nothing(BaseModel):
    pass


async def count_gpus(context: TaskContext, _: Nothing) -> dict[str, int]:
    """Says how many GPUs the agent that ran it sees."""
    snapshot = context.snapshot()
    sample = snapshot.sample("gpu", GpuSample) if snapshot is not None else None
    return {"gpus": len(sample.devices) if sample is not None else 0}


def gpu_handler(action: str, memory_mb: int) -> Handler:
    return Handler("test", action, Nothing, count_gpus, gpu=True, gpu_memory_mb=memory_mb,
                   host_bound=False)


SMALL = gpu_handler("gpu", 4 * GIB_MB)            # the fake H100 has 72 GB free
HUGE = gpu_handler("huge_gpu", 100 * GIB_MB)      # more than it has at all


async def agent(make_client: MakeClient, *, gpu: bool, **overrides: Any) -> AppClient:
    collectors = [MemoryCollector(), *([GpuCollector(FakeNvml([FakeGpu()]))] if gpu else [])]
    client = await make_client(use_collectors=collectors, **overrides)
    app = client.app
    assert app is not None
    for handler in (SMALL, HUGE):
        app[TASKS].register(handler)
    deadline = asyncio.get_running_loop().time() + 5
    while (await client.get("/readyz")).status != 200:   # its first sample of the host
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
    return client


def task(handler: Handler) -> dict[str, str]:
    return {"type": handler.type, "action": handler.action}


async def test_a_gpu_task_runs_where_a_gpu_has_room(make_client: MakeClient) -> None:
    client = await agent(make_client, gpu=True)
    done = await wait_for_status(client, (await submit(client, task(SMALL)))["task_id"],
                                 "succeeded", "failed")
    assert done["status"] == "succeeded" and done["result"] == {"gpus": 1}


@pytest.mark.parametrize("task_backend", ["memory"], indirect=True)
async def test_without_a_shared_pool_a_host_that_could_never_run_it_says_why(
    make_client: MakeClient,
) -> None:
    without = await agent(make_client, gpu=False)
    response = await without.post("/task", json=task(SMALL))
    assert response.status == 422
    detail = (await response.json(content_type=PROBLEM))["detail"]
    assert "needs a GPU" in detail and "no shared pool" in detail
    small_gpu = await agent(make_client, gpu=True)
    response = await small_gpu.post("/task", json=task(HUGE))
    assert response.status == 422
    assert "102400 MB" in (await response.json(content_type=PROBLEM))["detail"]


@pytest.mark.parametrize("task_backend", ["redis"], indirect=True)
async def test_on_a_shared_redis_gpu_tasks_go_to_the_agent_with_a_gpu(
    make_client: MakeClient,
) -> None:
    without = await agent(make_client, gpu=False, tasks={"agent_id": "cpu-only"})
    with_gpu = await agent(make_client, gpu=True, tasks={"agent_id": "gpu-host"})
    # the one no GPU has room for goes first: it is handed back, and does not hold up the rest
    huge = await submit(without, task(HUGE))
    accepted = [await submit(without, task(SMALL)) for _ in range(4)]
    for each in accepted:
        done = await wait_for_status(without, each["task_id"], "succeeded", "failed",
                                     timeout_s=15)
        assert done["status"] == "succeeded" and done["result"] == {"gpus": 1}, done
        assert done["attempts"] == 1
    # (each claim shows it running for the instant before it is handed back)
    waiting = await wait_for_status(with_gpu, huge["task_id"], "queued")
    assert waiting["attempts"] == 0 and waiting["started_at"] is None
    assert (await without.post(f"/task/{huge['task_id']}/cancel")).status == 200
