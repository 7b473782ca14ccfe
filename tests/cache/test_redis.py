"""What only the Redis backend does: its keys under its prefix, the server's numbers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from polyad.cache.redis_cache import RedisCache
from polyad.redis_link import RedisLink
from tests.conftest import REDIS_URL


@pytest.fixture
async def raw() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)   # bytes, as stored
    yield client
    await client.aclose()


async def test_values_are_json_under_the_prefix_with_an_expiry(
    raw: aioredis.Redis, redis_link: RedisLink, redis_prefix: str
) -> None:
    cache = RedisCache(redis_link.client, f"{redis_prefix}cache:", 300)
    await cache.set("k", {"b": 1, "a": [True, None]})
    await cache.set("short", 1, ttl_s=20)
    await cache.close()
    assert await raw.get(f"{redis_prefix}cache:k") == b'{"b":1,"a":[true,null]}'
    assert 299_000 < await raw.pttl(f"{redis_prefix}cache:k") <= 300_000
    assert 19_000 < await raw.pttl(f"{redis_prefix}cache:short") <= 20_000


async def test_clear_leaves_every_other_key_alone(
    raw: aioredis.Redis, redis_link: RedisLink, redis_prefix: str,
) -> None:
    # `?` and `[` are glob characters: unescaped, the SCAN pattern would match the neighbours
    cache = RedisCache(redis_link.client, f"{redis_prefix}[a]?cache:", 300)
    neighbours = [f"{redis_prefix}other", f"{redis_prefix}a-cache:k", f"{redis_prefix}cache:k"]
    for key in neighbours:
        await raw.set(key, b"foreign")
    await cache.set_many({f"k{index}": index for index in range(1200)})  # more than a batch
    assert (await cache.stats()).entries == 1200
    assert await cache.clear() == 1200
    assert [await raw.get(key) for key in neighbours] == [b"foreign"] * 3
    assert await cache.get_many(["k0", "k1199"]) == {}
    await cache.close()


async def test_stats_and_cleanup_report_the_server(
    redis_link: RedisLink, redis_prefix: str,
) -> None:
    cache = RedisCache(redis_link.client, f"{redis_prefix}cache:", 300)
    assert cache.snapshot_stats().last_cleanup is None
    await cache.set("k", "v")
    assert await cache.cleanup() == 0  # Redis expires keys itself
    stats = cache.snapshot_stats()  # refreshed by the cleanup, without I/O of its own
    assert stats.last_cleanup is not None
    assert stats.max_size_bytes is None
    assert stats.size_bytes > 1024  # the server's used_memory
    assert stats.entries == 1
    assert stats.size.endswith("B")
    await cache.close()
