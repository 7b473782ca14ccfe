"""The configured cache: its section, the backend it builds, its sweep loop and instruments."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

from polyad.cache import MemoryCache, build_cache, register_instruments, run_upkeep
from polyad.cache.resilient import ResilientCache
from polyad.config import load_config
from polyad.errors import ConfigError
from polyad.health import ComponentHealth, HealthBoard
from tests.conftest import REDIS_URL, link_to
from tests.fakes.clock import FakeClock


def test_the_cache_section_has_defaults_and_reads_units(tmp_path: Path) -> None:
    defaults = load_config(environ={}).cache
    assert (defaults.backend, defaults.max_size, defaults.ttl, defaults.cleanup_interval) == (
        "memory", 256 * 1024**2, 300.0, 60.0)
    config = load_config(environ={"POLYAD_CACHE__MAX_SIZE": "64MB", "POLYAD_CACHE__TTL": "1m"})
    assert (config.cache.max_size, config.cache.ttl) == (64 * 1024**2, 60.0)
    with pytest.raises(ConfigError, match=r"cache\.backend"):
        load_config(environ={"POLYAD_CACHE__BACKEND": "memcached"})


async def test_the_memory_backend_is_built_and_reported_healthy() -> None:
    health = HealthBoard()
    cache = build_cache(load_config(environ={}, overrides={"cache": {"max_size": "1KB"}}), health)
    assert isinstance(cache, MemoryCache)
    assert cache.snapshot_stats().max_size_bytes == 1024
    assert health.components()["cache"] == ComponentHealth(True, "memory backend")


async def test_the_redis_backend_is_built_behind_a_memory_fallback(redis_prefix: str) -> None:
    health = HealthBoard()
    config = load_config(environ={}, overrides={"cache": {"backend": "redis"},
                                                "redis": {"url": REDIS_URL,
                                                          "prefix": redis_prefix}})
    link = link_to(REDIS_URL, redis_prefix, health)
    cache = build_cache(config, health, link)
    assert isinstance(cache, ResilientCache)
    await cache.set("k", 1)
    assert (await cache.stats()).entries == 1
    assert health.components()["cache"] == ComponentHealth(True, "redis backend")
    await cache.close()
    await link.close()


async def test_the_cleanup_loop_sweeps_until_cancelled() -> None:
    clock = FakeClock()
    cache = MemoryCache(1024, 300, clock)
    await cache.set("k", 1, ttl_s=1)
    clock.advance(2)
    loop = asyncio.create_task(run_upkeep(cache, 0.01))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if cache.snapshot_stats().last_cleanup is not None:
            break
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
    stats = cache.snapshot_stats()
    assert stats.last_cleanup is not None
    assert (stats.entries, stats.misses) == (0, 0)  # swept, not read


async def test_instruments_report_the_cache_numbers() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    cache = MemoryCache(1024, 300, FakeClock())
    register_instruments(provider.get_meter("test"), cache)
    await cache.set("k", "v")
    await cache.get("k")
    await cache.get("k")
    await cache.get("absent")
    data = reader.get_metrics_data()
    assert data is not None
    points = {metric.name: (metric.unit, [point.value for point in metric.data.data_points
                                          if isinstance(point, NumberDataPoint)])
              for resource in data.resource_metrics for scope in resource.scope_metrics
              for metric in scope.metrics}
    assert points == {"polyad.cache.hits": ("{request}", [2]),
                      "polyad.cache.misses": ("{request}", [1]),
                      "polyad.cache.evictions": ("{entry}", [0]),
                      "polyad.cache.size": ("By", [3])}
    provider.shutdown()
