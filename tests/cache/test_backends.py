"""What every backend must do, run against both: memory, and Redis (a real server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from polyad.cache.memory import MemoryCache
from polyad.cache.redis_cache import RedisCache
from polyad.redis_link import RedisLink
from tests.fakes.clock import FakeClock

DEFAULT_TTL_S = 300.0


@dataclass
class Harness:
    cache: MemoryCache | RedisCache
    advance: Callable[[float], Awaitable[None]]   # let this much time pass for the cache


@pytest.fixture(params=["memory", "redis"])
async def harness(request: pytest.FixtureRequest, redis_link: RedisLink,
                  redis_prefix: str) -> AsyncIterator[Harness]:
    if request.param == "memory":
        clock = FakeClock()

        async def advance_clock(seconds: float) -> None:
            clock.advance(seconds)

        yield Harness(MemoryCache(1024 * 1024, DEFAULT_TTL_S, clock), advance_clock)
        return
    cache = RedisCache(redis_link.client, f"{redis_prefix}cache:", DEFAULT_TTL_S,
                       recount_after_s=0)
    yield Harness(cache, asyncio.sleep)
    await cache.close()


async def test_a_value_comes_back_as_a_fresh_copy(harness: Harness) -> None:
    cache = harness.cache
    value = {"cpu": [1.5, 2.5], "host": "a", "nested": {"ok": True}}
    await cache.set("k", value)
    got = await cache.get("k")
    assert got == value
    got["cpu"].append(99)
    assert await cache.get("k") == value  # what the caller changed is not what is cached
    assert await cache.get("absent") is None


async def test_delete_says_whether_an_entry_was_there(harness: Harness) -> None:
    await harness.cache.set("k", 1)
    assert await harness.cache.delete("k") is True
    assert await harness.cache.get("k") is None
    assert await harness.cache.delete("k") is False


async def test_setting_a_key_again_replaces_its_value(harness: Harness) -> None:
    await harness.cache.set("k", "old")
    await harness.cache.set("k", "new")
    assert await harness.cache.get("k") == "new"
    assert (await harness.cache.stats()).entries == 1


async def test_clear_removes_every_entry_and_counts_them(harness: Harness) -> None:
    await harness.cache.set_many({"a": 1, "b": 2, "c": 3})
    assert await harness.cache.clear() == 3
    assert await harness.cache.get_many(["a", "b", "c"]) == {}
    assert await harness.cache.clear() == 0


async def test_an_entry_lives_for_its_ttl_then_misses(harness: Harness) -> None:
    cache = harness.cache
    await cache.set("short", "s", ttl_s=0.2)
    await cache.set("default", "d")
    await cache.set_many({"batch": "b"}, ttl_s=0.2)
    assert await cache.get("short") == "s"
    await harness.advance(0.3)
    assert await cache.get("short") is None
    assert await cache.get_many(["batch", "default"]) == {"default": "d"}


async def test_hit_rate_is_the_percentage_of_lookups_that_found_a_value(harness: Harness) -> None:
    cache = harness.cache
    fresh = await cache.stats()
    assert (fresh.hits, fresh.misses, fresh.hit_rate) == (0, 0, 0.0)
    await cache.set("a", "x" * 10)
    await cache.set("b", "y")
    assert await cache.get("a") == "x" * 10
    assert await cache.get("b") == "y"
    assert await cache.get("c") is None
    stats = await cache.stats()
    assert (stats.hits, stats.misses, stats.hit_rate) == (2, 1, 66.7)
    assert stats.entries == 2
    assert stats.backend == cache.backend
    assert stats.size_bytes > 0
    assert cache.snapshot_stats() == stats  # nothing changed since


async def test_get_many_returns_only_what_was_found(harness: Harness) -> None:
    cache = harness.cache
    await cache.set_many({"a": [1], "b": {"x": 2}, "c": "three"})
    assert await cache.get_many(["a", "c", "missing"]) == {"a": [1], "c": "three"}
    assert await cache.get_many([]) == {}
    stats = await cache.stats()
    assert (stats.hits, stats.misses) == (2, 1)


async def test_values_that_are_not_json_are_refused_not_pickled(harness: Harness) -> None:
    with pytest.raises(TypeError):
        await harness.cache.set("k", object())
    with pytest.raises(TypeError):
        await harness.cache.set_many({"k": {1, 2}})
    assert await harness.cache.get("k") is None


async def test_a_ttl_must_be_positive(harness: Harness) -> None:
    with pytest.raises(ValueError, match="positive ttl_s"):
        await harness.cache.set("k", 1, ttl_s=0)
    assert await harness.cache.get("k") is None


async def test_stats_version_changes_whenever_the_snapshot_stats_do(harness: Harness) -> None:
    cache = harness.cache
    steps: list[Callable[[], Awaitable[object]]] = [
        lambda: cache.set("a", "x" * 10), lambda: cache.get("a"), lambda: cache.get("nope"),
        lambda: cache.set("b", "y" * 100), lambda: cache.delete("a"), lambda: cache.cleanup(),
        lambda: cache.clear(),
    ]
    await cache.stats()
    before = (cache.stats_version(), cache.snapshot_stats())
    for step in steps:
        await step()
        await cache.stats()  # Redis: the server's numbers are read here
        after = (cache.stats_version(), cache.snapshot_stats())
        assert (after[0] != before[0]) == (after[1] != before[1])
        assert after[1] != before[1]  # each step changes something /status shows
        before = after
