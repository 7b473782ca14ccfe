"""The redis backend as the agent uses it: a RedisCache with a MemoryCache behind it.

While the agent's Redis link (polyad/redis_link.py) says Redis is away, operations are served
from memory and the health board's `cache` says so; an operation that meets a Redis error tells
the link, which pings Redis until it answers. When it is back, the memory copy is dropped (it
would have gone stale while Redis served) and Redis serves again. Callers never see a Redis
error. What was deleted or cleared while Redis was away is still in Redis when it returns, until
its TTL runs out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from polyad.cache.base import COMPONENT, Backend, Cache, CacheStats, hit_rate_percent
from polyad.cache.memory import MemoryCache
from polyad.cache.redis_cache import RedisCache
from polyad.health import HealthBoard
from polyad.redis_link import UNREACHABLE, RedisLink

__all__ = ["ResilientCache"]

_T = TypeVar("_T")
SERVING = "redis backend"
AWAY = "redis unreachable (see redis); serving from memory"


class ResilientCache:
    def __init__(self, shared: RedisCache, fallback: MemoryCache, link: RedisLink,
                 health: HealthBoard) -> None:
        self._shared = shared
        self._fallback = fallback
        self._link = link
        self._health = health
        self._stale_fallback = False   # Redis is back: what memory held must go
        link.listeners.append(self._redis_changed)
        health.report(COMPONENT, ok=True, detail=SERVING)

    @property
    def backend(self) -> Backend:
        """The store serving now."""
        return "memory" if self._link.away else "redis"

    async def get(self, key: str) -> Any | None:
        return await self._call(lambda cache: cache.get(key))

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        wanted = list(keys)
        return await self._call(lambda cache: cache.get_many(wanted))

    async def set(self, key: str, value: Any, ttl_s: float | None = None) -> None:
        await self._call(lambda cache: cache.set(key, value, ttl_s))

    async def set_many(self, items: Mapping[str, Any], ttl_s: float | None = None) -> None:
        await self._call(lambda cache: cache.set_many(items, ttl_s))

    async def delete(self, key: str) -> bool:
        return await self._call(lambda cache: cache.delete(key))

    async def clear(self) -> int:
        return await self._call(lambda cache: cache.clear())

    async def cleanup(self) -> int:
        # run every cleanup interval, so a Redis that is back is noticed even without traffic
        return await self._call(lambda cache: cache.cleanup())

    async def stats(self) -> CacheStats:
        return self._combined(await self._call(lambda cache: cache.stats()))

    def snapshot_stats(self) -> CacheStats:
        serving = self._fallback if self._link.away else self._shared
        return self._combined(serving.snapshot_stats())

    def stats_version(self) -> Hashable:
        return self._link.away, self._shared.stats_version(), self._fallback.stats_version()

    async def close(self) -> None:
        await self._fallback.close()   # the client is the link's: it closes it

    def _combined(self, stats: CacheStats) -> CacheStats:
        """The serving store's numbers, with the other's counts added: counters must not go
        back when the store changes."""
        other = (self._fallback if stats.backend == "redis" else self._shared).snapshot_stats()
        hits, misses = stats.hits + other.hits, stats.misses + other.misses
        return replace(stats, hits=hits, misses=misses, hit_rate=hit_rate_percent(hits, misses),
                       evictions=stats.evictions + other.evictions)

    async def _call(self, operation: Callable[[Cache], Awaitable[_T]]) -> _T:
        if self._stale_fallback:
            self._stale_fallback = False
            await self._fallback.clear()
        if not self._link.away:
            try:
                return await operation(self._shared)
            except UNREACHABLE as error:
                self._link.failed(error)
        return await operation(self._fallback)

    def _redis_changed(self, back: bool) -> None:
        self._stale_fallback = back
        self._health.report(COMPONENT, ok=back, detail=SERVING if back else AWAY)
