"""The redis backend through an outage: a private redis-server is killed and started again;
the agent's Redis link says when it is away and when it is back."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from polyad.cache.memory import MemoryCache
from polyad.cache.redis_cache import RedisCache
from polyad.cache.resilient import ResilientCache
from polyad.health import HealthBoard
from polyad.redis_link import RedisLink
from tests.agent_process import free_port
from tests.conftest import link_to
from tests.redis_server import PrivateRedis


class CountingRedisCache(RedisCache):
    """Counts the reads that reached for Redis, to see when it is tried."""

    tries = 0

    async def get(self, key: str) -> Any | None:
        self.tries += 1
        return await super().get(key)


def resilient(link: RedisLink, health: HealthBoard) -> ResilientCache:
    return ResilientCache(RedisCache(link.client, "t:cache:", 300), MemoryCache(1024 * 1024, 300),
                          link, health)


async def test_an_outage_is_served_from_memory_and_redis_serves_again_when_back(
    private_redis: PrivateRedis,
) -> None:
    private_redis.start()
    health = HealthBoard()
    link = link_to(private_redis.url, health=health)
    cache = resilient(link, health)
    raw = aioredis.from_url(private_redis.url)
    await cache.set("before", 1)
    assert await raw.get("t:cache:before") == b"1"
    assert health.components()["cache"].ok

    private_redis.kill()
    await cache.set("during", {"n": 2})  # no error reaches the caller
    assert await cache.get("during") == {"n": 2}
    assert await cache.get("before") is None  # that one is in Redis, out of reach
    state = health.components()["cache"]
    assert not state.ok and state.detail is not None and "serving from memory" in state.detail
    assert not health.components()["redis"].ok            # the one place the outage is told
    stats = await cache.stats()
    assert (stats.backend, stats.entries, stats.hits, stats.misses) == ("memory", 1, 1, 1)

    private_redis.start()  # an empty server: it saved nothing
    assert await cache.get("during") == {"n": 2}  # still memory: no ping has seen it back
    assert cache.snapshot_stats().backend == "memory"
    assert await link.ping()                     # what the link's watch does, a while later
    await cache.set("after", 3)
    assert cache.backend == "redis"
    assert health.components()["cache"].ok and health.components()["redis"].ok
    assert await raw.get("t:cache:after") == b"3"
    assert await cache.get("during") is None  # Redis serves, and the memory copy is gone
    assert (await cache.stats()).hits == 2  # counts carry over the switches
    await raw.aclose()
    await cache.close()
    await link.close()


async def test_while_redis_is_away_no_operation_waits_on_it() -> None:
    """Ten calls under way when Redis fails are one outage; after it, calls go to memory at
    once (no connect timeout each) until the link's ping sees Redis back."""
    health = HealthBoard()
    link = link_to(f"redis://127.0.0.1:{free_port()}/0", health=health)
    shared = CountingRedisCache(link.client, "t:", 300)
    cache = ResilientCache(shared, MemoryCache(1024, 300), link, health)
    for _ in range(10):
        assert await cache.get("k") is None
    assert shared.tries == 1
    assert not health.components()["cache"].ok and link.away
    assert not await link.ping()                 # still nothing there
    assert shared.tries == 1
    await cache.close()
    await link.close()
