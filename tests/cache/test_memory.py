"""What only the memory backend does: LRU order, a bound in bytes, evictions, the sweep."""

from __future__ import annotations

import gc
import random
import tracemalloc
from datetime import UTC, datetime

import orjson

from polyad.cache.memory import MemoryCache
from tests.fakes.clock import FakeClock

ENTRY = "x" * 98  # 100 bytes as JSON


def cache_of(max_size_bytes: int, clock: FakeClock | None = None) -> MemoryCache:
    return MemoryCache(max_size_bytes, 300, clock or FakeClock())


async def test_the_least_recently_used_entry_is_evicted_first() -> None:
    cache = cache_of(300)
    await cache.set_many({"a": ENTRY, "b": ENTRY, "c": ENTRY})
    assert await cache.get("a") == ENTRY  # "a" is now more recent than "b"
    await cache.set("d", ENTRY)
    assert await cache.get_many(["a", "b", "c", "d"]) == {"a": ENTRY, "c": ENTRY, "d": ENTRY}
    assert cache.snapshot_stats().evictions == 1


async def test_the_values_never_take_more_bytes_than_the_bound() -> None:
    cache = cache_of(10_000)
    sizes = random.Random(5)
    for index in range(500):
        await cache.set(f"k{index}", "v" * sizes.randrange(0, 2000))
        assert cache.snapshot_stats().size_bytes <= 10_000
    kept = await cache.get_many([f"k{index}" for index in range(500)])
    stats = cache.snapshot_stats()
    assert stats.size_bytes == sum(len(orjson.dumps(value)) for value in kept.values())
    assert stats.entries == len(kept) > 0
    assert stats.evictions == 500 - len(kept)  # every entry that is gone was evicted


async def test_a_value_larger_than_the_whole_cache_is_dropped_not_raised() -> None:
    cache = cache_of(300)
    await cache.set("k", ENTRY)
    await cache.set("other", ENTRY)
    await cache.set("k", "y" * 400)
    assert await cache.get("k") is None  # not the stale old value either
    assert await cache.get("other") == ENTRY
    stats = cache.snapshot_stats()
    assert (stats.evictions, stats.entries, stats.size_bytes) == (1, 1, 100)


async def test_an_expired_entry_is_a_miss_and_is_removed_when_read() -> None:
    clock = FakeClock()
    cache = cache_of(1000, clock)
    await cache.set("k", ENTRY, ttl_s=10)
    clock.advance(10)
    assert await cache.get("k") is None
    assert await cache.delete("k") is False
    stats = cache.snapshot_stats()
    assert (stats.misses, stats.entries, stats.size_bytes, stats.evictions) == (1, 0, 0, 0)


async def test_delete_of_an_expired_entry_says_false_and_frees_it() -> None:
    clock = FakeClock()
    cache = cache_of(1000, clock)
    await cache.set("k", ENTRY, ttl_s=10)
    clock.advance(11)
    assert await cache.delete("k") is False
    assert cache.snapshot_stats().size_bytes == 0


async def test_cleanup_sweeps_expired_entries_and_stamps_the_time() -> None:
    clock = FakeClock()
    cache = MemoryCache(10 * 1024 * 1024, 60, clock)
    await cache.set_many({f"old{index}": index for index in range(25_000)})  # several chunks
    await cache.set("young", "stays", ttl_s=120)
    clock.advance(60)
    before = datetime.now(UTC)
    assert await cache.cleanup() == 25_000
    stats = cache.snapshot_stats()
    assert stats.last_cleanup is not None and before <= stats.last_cleanup <= datetime.now(UTC)
    assert (stats.entries, stats.size_bytes, stats.evictions) == (1, len(b'"stays"'), 0)
    assert await cache.get("young") == "stays"
    assert await cache.cleanup() == 0


async def test_an_entry_holds_about_what_the_bound_counts_for_it() -> None:
    """orjson's bytes keep their 4 KB buffer: stored as they came, 2,000 entries of a 26-byte
    value held 8 MB against the 52 KB the cache counted."""
    cache = MemoryCache(max_size_bytes=10 * 1024 * 1024, default_ttl_s=60)
    value = {"cpu": 12.5, "memory": 48.1}
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for number in range(2000):
            await cache.set(f"key-{number}", value)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    per_entry = (after - before) / 2000
    assert (await cache.stats()).size_bytes == 2000 * len(orjson.dumps(value))
    assert per_entry < 400, per_entry   # key, payload, entry and the LRU's own books
