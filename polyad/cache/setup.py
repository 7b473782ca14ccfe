"""Building the configured cache, and the loop that sweeps it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog

from polyad.cache.base import COMPONENT, Cache
from polyad.cache.memory import MemoryCache
from polyad.config import Config
from polyad.health import HealthBoard

if TYPE_CHECKING:  # redis-py is loaded only when a part uses Redis
    from polyad.redis_link import RedisLink

__all__ = ["build_cache", "run_upkeep"]

log = structlog.get_logger(logger_name="polyad.cache")


def _memory(config: Config, health: HealthBoard) -> Cache:
    health.report(COMPONENT, ok=True, detail="memory backend")
    return MemoryCache(config.cache.max_size, config.cache.ttl)


def _redis(config: Config, health: HealthBoard, link: RedisLink) -> Cache:
    # imported only when chosen: an agent without Redis never loads the client
    from polyad.cache.redis_cache import RedisCache
    from polyad.cache.resilient import ResilientCache

    shared = RedisCache(link.client, f"{link.prefix}cache:", config.cache.ttl)
    return ResilientCache(shared, MemoryCache(config.cache.max_size, config.cache.ttl), link,
                          health)


def build_cache(config: Config, health: HealthBoard, link: RedisLink | None = None) -> Cache:
    """`link`: the agent's Redis, there when some part uses it (cache.backend redis among
    them: the configuration refuses any backend but memory and redis)."""
    if config.cache.backend == "redis":
        assert link is not None, "cache.backend redis needs the agent's Redis link"
        return _redis(config, health, link)
    return _memory(config, health)


async def run_upkeep(cache: Cache, interval_s: float) -> None:
    """Until cancelled: sweep expired entries every `interval_s`; a failed sweep is logged and
    the next one still runs. (Redis is watched by the agent's link to it, for every part.)"""
    while True:
        await asyncio.sleep(interval_s)
        try:
            removed = await cache.cleanup()
        except Exception:
            log.exception("cache cleanup failed")
        else:
            log.debug("cache cleanup", removed=removed)
