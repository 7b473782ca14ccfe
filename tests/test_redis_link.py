"""The agent's one Redis: one client for every part, one outage state told once, pings at
start and while away (backing off), and never a password in a log line or in /status."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis
from structlog.testing import capture_logs

from polyad.config import RedisConfig
from polyad.health import HealthBoard
from polyad.redis_client import CLIENT_NAME
from polyad.redis_link import PROBE_BACKOFF_S, RedisLink
from tests.agent_process import free_port
from tests.conftest import REDIS_URL, MakeClient, bearer, link_to, make_token
from tests.redis_server import PrivateRedis


async def wait_for(condition: Any, what: str, within_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"waited {within_s} s for {what}"
        await asyncio.sleep(0.01)


async def test_the_ping_at_start_says_degraded_and_the_watch_sees_redis_back(
    private_redis: PrivateRedis,
) -> None:
    health = HealthBoard()
    link = RedisLink(RedisConfig(url=private_redis.url), health, probe_backoff_s=(0.05,))
    where = f"redis://127.0.0.1:{private_redis.port}/0"
    assert health.components()["redis"].detail == f"{where}, not checked yet"
    told: list[bool] = []
    link.listeners.append(told.append)
    assert not await link.ping()                 # nothing there yet
    assert not health.components()["redis"].ok and told == [False]
    watching = asyncio.create_task(link.watch())
    try:
        private_redis.start()
        await wait_for(lambda: not link.away, "the watch to see Redis back")
        assert health.components()["redis"].ok and told == [False, True]
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        await link.close()


async def test_the_watch_backs_off_between_pings_up_to_its_bound() -> None:
    link = link_to(f"redis://127.0.0.1:{free_port()}/0")
    await link.ping()
    delays: list[float] = []

    async def sleep(delay_s: float) -> None:
        delays.append(delay_s)
        if len(delays) == 7:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await link.watch(sleep)
    assert delays == [*PROBE_BACKOFF_S, 5.0, 5.0, 5.0] and PROBE_BACKOFF_S[-1] == 5.0
    await link.close()


async def test_an_outage_is_logged_once_and_its_end_once(private_redis: PrivateRedis) -> None:
    link = link_to(private_redis.url)
    with capture_logs() as logs:
        for _ in range(3):
            link.failed(ConnectionError("refused"))
            assert not await link.ping()
        private_redis.start()
        assert await link.ping() and await link.ping()
    events = [(entry["event"], entry["log_level"]) for entry in logs]
    assert events == [("redis unreachable", "warning"), ("redis is back", "info")]
    await link.close()


async def test_no_password_in_a_log_line_or_in_the_health_detail() -> None:
    health = HealthBoard()
    port = free_port()
    link = link_to(f"redis://agent:hunter2-secret@127.0.0.1:{port}/3", health=health)
    with capture_logs() as logs:
        await link.ping()
    seen = f"{logs} {health.components()}"
    assert "hunter2" not in seen and "agent:" not in seen
    assert f"redis://127.0.0.1:{port}/3 unreachable" in seen
    await link.close()


async def test_every_part_talks_to_redis_through_the_one_pool(
    make_client: MakeClient, redis_prefix: str,
) -> None:
    """Counted by Redis itself: the connections that appear once the cache, the rate limits
    and the task queue have all been used are the one pool's, each named for this agent."""
    from polyad.api.keys import REDIS

    raw = aioredis.from_url(REDIS_URL, decode_responses=True)
    before = len(await raw.client_list())
    client = await make_client(cache={"backend": "redis"}, tasks={"backend": "redis"},
                               rate_limit={"storage": "redis"},
                               redis={"url": REDIS_URL, "prefix": redis_prefix})
    assert (await client.post("/task", json={"type": "system", "action": "noop",
                                             "data": {"seconds": 0}})).status == 202
    assert (await client.get("/cache")).status == 200          # through the rate limits too
    connections = await raw.client_list()
    await raw.aclose()
    pool = client.app[REDIS].client.connection_pool
    held = len(pool._available_connections) + len(pool._in_use_connections)
    named = [entry for entry in connections if entry["name"] == CLIENT_NAME]
    assert 2 <= held == len(named) == len(connections) - before   # the pub/sub one among them


async def test_an_agent_started_without_redis_says_degraded_for_every_part_at_once(
    make_client: MakeClient,
) -> None:
    """No request has used Redis yet: the start's ping has told every part."""
    client = await make_client(cache={"backend": "redis"}, tasks={"backend": "redis"},
                               rate_limit={"storage": "redis"},
                               redis={"url": f"redis://127.0.0.1:{free_port()}/0"})
    status = await (await client.get("/status")).json()
    assert status["status"] == "degraded"
    components = status["components"]
    assert components["redis"]["status"] == "failed"
    assert "unreachable" in components["redis"]["detail"]
    for part, fallback in (("cache", "serving from memory"), ("rate_limit", "counting in memory"),
                           ("tasks", "submissions get 503")):
        assert components[part]["status"] == "failed", part
        assert fallback in components[part]["detail"], part


async def test_the_agent_recovers_without_traffic_when_redis_comes(
    make_client: MakeClient, private_redis: PrivateRedis,
) -> None:
    client = await make_client(cache={"backend": "redis"}, tasks={"backend": "redis"},
                               rate_limit={"storage": "redis"},
                               redis={"url": private_redis.url})
    from polyad.api.keys import HEALTH

    health = client.app[HEALTH]
    assert not health.components()["redis"].ok
    private_redis.start()
    # the watch pings after 0.5, 1, 2, then every 5 s: back within 5 s of Redis coming
    parts = ("redis", "cache", "rate_limit", "tasks")
    await wait_for(lambda: all(health.components()[part].ok for part in parts),
                   "every part to see Redis back", within_s=10)
    status = await (await client.get("/status", headers=bearer(make_token()))).json()
    for part in parts:
        assert status["components"][part]["status"] == "ok", part
    accepted = await client.post("/task", json={"type": "system", "action": "noop",
                                                "data": {"seconds": 0}})
    assert accepted.status == 202
