"""The redis backend through an outage: a private redis-server is killed and started again."""

from __future__ import annotations

import asyncio
from typing import Any

from polyad.cache.memory import MemoryCache
from polyad.cache.redis_cache import RedisCache, redis_client
from polyad.cache.resilient import ResilientCache
from polyad.health import HealthBoard
from tests.agent_process import free_port
from tests.fakes.clock import FakeClock
from tests.redis_server import PrivateRedis


class CountingRedisCache(RedisCache):
    """Counts the reads that reached for Redis, to see when it is tried."""

    tries = 0

    async def get(self, key: str) -> Any | None:
        self.tries += 1
        return await super().get(key)


def resilient(url: str, health: HealthBoard, clock: FakeClock) -> ResilientCache:
    return ResilientCache(RedisCache(redis_client(url), "t:cache:", 300),
                          MemoryCache(1024 * 1024, 300, clock), health, clock=clock)


async def test_an_outage_is_served_from_memory_and_redis_serves_again_when_back(
    private_redis: PrivateRedis,
) -> None:
    private_redis.start()
    health, clock = HealthBoard(), FakeClock()
    cache = resilient(private_redis.url, health, clock)
    raw = redis_client(private_redis.url)
    await cache.set("before", 1)
    assert await raw.get("t:cache:before") == b"1"
    assert health.components()["cache"].ok

    private_redis.kill()
    await cache.set("during", {"n": 2})  # no error reaches the caller
    assert await cache.get("during") == {"n": 2}
    assert await cache.get("before") is None  # that one is in Redis, out of reach
    state = health.components()["cache"]
    assert not state.ok and state.detail is not None
    assert state.detail.startswith("redis unreachable (") and "serving from memory" in state.detail
    stats = await cache.stats()
    assert (stats.backend, stats.entries, stats.hits, stats.misses) == ("memory", 1, 1, 1)

    private_redis.start()  # an empty server: it saved nothing
    assert await cache.get("during") == {"n": 2}  # still memory: the backoff has not run out
    assert cache.snapshot_stats().backend == "memory"
    clock.advance(1.0)
    await cache.set("after", 3)
    assert cache.backend == "redis"
    assert health.components()["cache"].ok
    assert await raw.get("t:cache:after") == b"3"
    assert await cache.get("during") is None  # Redis serves, and the memory copy is gone
    assert (await cache.stats()).hits == 2  # counts carry over the switches
    await raw.aclose()
    await cache.close()


async def test_redis_is_tried_again_with_growing_backoff_one_call_at_a_time() -> None:
    health, clock = HealthBoard(), FakeClock()
    shared = CountingRedisCache(redis_client(f"redis://127.0.0.1:{free_port()}/0"), "t:", 300)
    cache = ResilientCache(shared, MemoryCache(1024, 300, clock), health, clock=clock)
    # calls already under way when Redis fails count as one failure, not ten
    assert await asyncio.gather(*(cache.get("k") for _ in range(10))) == [None] * 10
    assert shared.tries == 10
    tries_at = {}
    for now_s in (0.5, 1.0, 1.5, 2.9, 3.0, 7.9, 8.0):
        clock.now_s = 1000.0 + now_s
        await cache.get("k")
        tries_at[now_s] = shared.tries
    # retried after 1 s, then 2 s, then 5 s (1, 3, 8 seconds after the first failure)
    assert tries_at == {0.5: 10, 1.0: 11, 1.5: 11, 2.9: 11, 3.0: 12, 7.9: 12, 8.0: 13}
    assert not health.components()["cache"].ok
    await cache.close()


async def wait_for_health(health: HealthBoard, ok: bool, within_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while health.components()["cache"].ok != ok:
        assert asyncio.get_running_loop().time() < deadline, health.components()["cache"]
        await asyncio.sleep(0.01)


async def test_the_watch_says_degraded_from_the_start_and_sees_redis_back_without_traffic(
    private_redis: PrivateRedis,
) -> None:
    health, clock = HealthBoard(), FakeClock()
    cache = resilient(private_redis.url, health, clock)
    watching = asyncio.create_task(cache.watch(every_s=0.05))
    try:
        # no Redis yet, and no cache call made: the health board says so all the same
        await wait_for_health(health, ok=False)
        assert cache.snapshot_stats().backend == "memory"
        private_redis.start()
        # the operations' backoff has not run out (the clock stands still): the watch alone
        # brings Redis back
        await wait_for_health(health, ok=True)
        assert cache.backend == "redis"
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        await cache.close()
