"""The redis backend as the agent uses it: a RedisCache with a MemoryCache behind it.

When Redis fails (any Redis error, or the socket's), the operation is served from memory, the
health board says so, and Redis is tried again with backoff: one operation at a time probes it,
the others stay in memory. `watch` pings Redis at start and every `PROBE_EVERY_S` while it is
away, so the health board is true from the first second and a Redis that is back serves again
within a probe, traffic or not. When it answers, the memory copy is dropped (it would go stale
while Redis serves) and Redis serves again. Callers never see a Redis error. What was deleted or
cleared while Redis was down is still in Redis when it returns, until its TTL runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import structlog
from redis.exceptions import RedisError

from polyad.cache.base import COMPONENT, Backend, Cache, CacheStats, hit_rate_percent
from polyad.cache.memory import MemoryCache
from polyad.cache.redis_cache import RedisCache
from polyad.health import HealthBoard

__all__ = ["BACKOFF_S", "PROBE_EVERY_S", "ResilientCache"]

BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)   # between operations that try Redis again
PROBE_EVERY_S = 1.0                       # between pings while Redis is away: they cost no request
_UNREACHABLE = (RedisError, OSError)
_T = TypeVar("_T")
log = structlog.get_logger(logger_name="polyad.cache")


class ResilientCache:
    def __init__(self, shared: RedisCache, fallback: MemoryCache, health: HealthBoard, *,
                 backoff_s: Sequence[float] = BACKOFF_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._shared = shared
        self._fallback = fallback
        self._health = health
        self._backoff_s = tuple(backoff_s)
        self._clock = clock
        self._failures = 0
        self._retry_at_s = -math.inf
        self._away = asyncio.Event()
        health.report(COMPONENT, ok=True, detail="redis backend")

    @property
    def backend(self) -> Backend:
        """The store serving now."""
        return "memory" if self._failures else "redis"

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
        serving = self._fallback if self._failures else self._shared
        return self._combined(serving.snapshot_stats())

    def stats_version(self) -> Hashable:
        return self._failures > 0, self._shared.stats_version(), self._fallback.stats_version()

    async def watch(self, every_s: float = PROBE_EVERY_S) -> None:
        await self._ping()
        while True:
            await self._away.wait()
            await asyncio.sleep(every_s)
            await self._ping()

    async def _ping(self) -> None:
        away = self._failures > 0
        try:
            await self._shared.ping()
        except _UNREACHABLE as error:
            self._shared_failed(error, probing=away)
        else:
            if away:
                await self._shared_back()

    async def close(self) -> None:
        with contextlib.suppress(*_UNREACHABLE):
            await self._shared.close()
        await self._fallback.close()

    def _combined(self, stats: CacheStats) -> CacheStats:
        """The serving store's numbers, with the other's counts added: counters must not go
        back when the store changes."""
        other = (self._fallback if stats.backend == "redis" else self._shared).snapshot_stats()
        hits, misses = stats.hits + other.hits, stats.misses + other.misses
        return replace(stats, hits=hits, misses=misses, hit_rate=hit_rate_percent(hits, misses),
                       evictions=stats.evictions + other.evictions)

    async def _call(self, operation: Callable[[Cache], Awaitable[_T]]) -> _T:
        probing = self._failures > 0
        if not probing or self._probe_due():
            try:
                result = await operation(self._shared)
            except _UNREACHABLE as error:
                self._shared_failed(error, probing=probing)
            else:
                if probing:
                    await self._shared_back()
                return result
        return await operation(self._fallback)

    def _probe_due(self) -> bool:
        now_s = self._clock()
        if now_s < self._retry_at_s:
            return False
        self._retry_at_s = now_s + self._delay_s()  # claimed: other calls wait for its outcome
        return True

    def _delay_s(self) -> float:
        return self._backoff_s[min(self._failures, len(self._backoff_s)) - 1]

    def _shared_failed(self, error: Exception, *, probing: bool) -> None:
        if self._failures and not probing:
            return  # began before the first failure was seen: nothing new to learn
        self._failures += 1
        self._away.set()
        self._retry_at_s = self._clock() + self._delay_s()
        reason = type(error).__name__
        if self._failures == 1:
            log.warning("cache redis unreachable; serving from memory", error=reason)
        self._health.report(COMPONENT, ok=False,
                            detail=f"redis unreachable ({reason}); serving from memory")

    async def _shared_back(self) -> None:
        if not self._failures:
            return  # a probe and an operation both saw it back: once is enough
        self._failures = 0
        self._away.clear()
        self._retry_at_s = -math.inf
        await self._fallback.clear()
        log.info("cache redis is back")
        self._health.report(COMPONENT, ok=True, detail="redis backend")
