"""GET /cache as the seed shows it, DELETE /cache for admins, /status's summary of the same
numbers, and cacheable task results served from the cache."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from tests.agent_process import free_port
from tests.api.test_seed_shapes import assert_same_shape
from tests.conftest import REDIS_URL, AppClient, MakeClient, bearer, make_token
from tests.tasks.helpers import submit, wait_for_status

SEED_CACHE = {"size": "1.2GB", "hits": 12345, "misses": 123, "hit_rate": 98.5,
              "evictions": 10, "last_cleanup": "2024-03-21T07:50:00"}
PROCESSES = {"type": "system", "action": "processes", "data": {"top": 3}}


async def cache_stats(client: AppClient) -> dict[str, Any]:
    response = await client.get("/cache")
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def test_get_cache_has_the_seed_shape_and_more(make_client: MakeClient) -> None:
    client = await make_client(cache={"cleanup_interval": "100ms"})
    body = await cache_stats(client)
    assert body["last_cleanup"] is None  # no sweep yet
    assert body["backend"] == "memory" and body["max_size_bytes"] == 256 * 1024 * 1024
    assert (body["hits"], body["misses"], body["hit_rate"], body["entries"]) == (0, 0, 0.0, 0)
    for _ in range(50):
        await asyncio.sleep(0.05)
        body = await cache_stats(client)
        if body["last_cleanup"] is not None:
            break
    assert_same_shape(SEED_CACHE, body)
    swept_at = datetime.fromisoformat(body["last_cleanup"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - swept_at).total_seconds()) < 60


async def test_an_identical_cacheable_task_is_served_from_cache(client: AppClient) -> None:
    first = await submit(client, PROCESSES)
    done = await wait_for_status(client, first["task_id"], "succeeded")
    second = await submit(client, PROCESSES)
    again = await wait_for_status(client, second["task_id"], "succeeded")
    assert second["task_id"] != first["task_id"]
    assert (done["from_cache"], again["from_cache"]) == (False, True)
    assert again["result"] == done["result"]
    stats = await cache_stats(client)
    assert (stats["hits"], stats["misses"], stats["entries"]) == (1, 1, 1)
    assert stats["hit_rate"] == 50.0 and stats["size_bytes"] > 0
    status = await (await client.get("/status")).json()
    assert status["cache"] == {"size": stats["size"], "size_bytes": stats["size_bytes"],
                               "hits": 1, "misses": 1}


async def test_other_data_is_another_entry_and_plain_tasks_leave_the_cache_alone(
    client: AppClient,
) -> None:
    await wait_for_status(client, (await submit(client, PROCESSES))["task_id"], "succeeded")
    other = {**PROCESSES, "data": {"top": 4}}
    result = await wait_for_status(client, (await submit(client, other))["task_id"],
                                   "succeeded")
    noop = await submit(client, {"type": "system", "action": "noop"})
    await wait_for_status(client, noop["task_id"], "succeeded")
    assert result["from_cache"] is False
    stats = await cache_stats(client)
    assert (stats["hits"], stats["misses"], stats["entries"]) == (0, 2, 2)


async def test_delete_cache_needs_admin_and_clears(client: AppClient) -> None:
    await wait_for_status(client, (await submit(client, PROCESSES))["task_id"], "succeeded")
    reader = bearer(make_token(["read", "tasks"]))
    refused = await client.delete("/cache", headers=reader)
    assert refused.status == 403
    cleared = await client.delete("/cache")
    assert cleared.status == 200 and await cleared.json() == {"cleared": 1}
    assert (await cache_stats(client))["entries"] == 0


async def test_the_redis_cache_is_shared_by_agents(make_client: MakeClient,
                                                   redis_prefix: str) -> None:
    settings = {"cache": {"backend": "redis"},
                "redis": {"url": REDIS_URL, "prefix": redis_prefix}}
    first, second = await make_client(**settings), await make_client(**settings)
    await wait_for_status(first, (await submit(first, PROCESSES))["task_id"], "succeeded")
    served = await wait_for_status(second, (await submit(second, PROCESSES))["task_id"],
                                   "succeeded")
    assert served["from_cache"] is True  # the other agent's result, from the shared cache
    stats = await cache_stats(second)
    assert stats["backend"] == "redis" and stats["hits"] == 1
    status = await (await second.get("/status")).json()
    assert status["components"]["cache"] == {"status": "ok", "detail": "redis backend"}


async def test_cache_metrics_are_exposed(make_client: MakeClient) -> None:
    client = await make_client(sampler={"interval": "100ms"})
    await wait_for_status(client, (await submit(client, PROCESSES))["task_id"], "succeeded")
    text = await (await client.get("/metrics/prom")).text()
    assert "polyad_cache_misses_total 1.0" in text
    assert "polyad_cache_hits_total 0.0" in text
    assert "polyad_cache_size_bytes " in text and "polyad_cache_evictions_total 0.0" in text


async def test_a_redis_cache_unreachable_at_start_is_degraded_before_any_cache_call(
        make_client: MakeClient) -> None:
    client = await make_client(cache={"backend": "redis"},
                               redis={"url": f"redis://127.0.0.1:{free_port()}/0"})
    deadline = asyncio.get_running_loop().time() + 5
    while True:  # the start-up ping runs beside the app's start: wait for its answer
        status = await (await client.get("/status")).json()
        if status["status"] == "degraded":
            break
        assert asyncio.get_running_loop().time() < deadline, status
        await asyncio.sleep(0.02)
    assert status["components"]["cache"]["status"] == "failed"
    assert "redis unreachable" in status["components"]["cache"]["detail"]
