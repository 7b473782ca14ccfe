"""Building the configured cache, and the loop that sweeps it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from polyad.cache.base import COMPONENT, Cache
from polyad.cache.memory import MemoryCache
from polyad.config import Config
from polyad.health import HealthBoard

__all__ = ["build_cache", "run_upkeep"]

log = structlog.get_logger(logger_name="polyad.cache")


def _memory(config: Config, health: HealthBoard) -> Cache:
    health.report(COMPONENT, ok=True, detail="memory backend")
    return MemoryCache(config.cache.max_size, config.cache.ttl)


def _redis(config: Config, health: HealthBoard) -> Cache:
    # imported only when chosen: an agent without Redis never loads the client
    from polyad.cache.redis_cache import RedisCache, redis_client
    from polyad.cache.resilient import ResilientCache

    shared = RedisCache(redis_client(config.redis.url), f"{config.redis.prefix}cache:",
                        config.cache.ttl)
    return ResilientCache(shared, MemoryCache(config.cache.max_size, config.cache.ttl), health)


_BACKENDS: dict[str, Callable[[Config, HealthBoard], Cache]] = {"memory": _memory,
                                                               "redis": _redis}


def build_cache(config: Config, health: HealthBoard) -> Cache:
    # cache.backend is one of these keys: the configuration refuses anything else
    return _BACKENDS[config.cache.backend](config, health)


async def run_upkeep(cache: Cache, cleanup_interval_s: float) -> None:
    """Until cancelled: the cache's watch of its server, and the sweep."""
    await asyncio.gather(cache.watch(), _sweep(cache, cleanup_interval_s))


async def _sweep(cache: Cache, interval_s: float) -> None:
    """Sweep expired entries every `interval_s`; a failed sweep is logged and the next one
    still runs."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            removed = await cache.cleanup()
        except Exception:
            log.exception("cache cleanup failed")
        else:
            log.debug("cache cleanup", removed=removed)
