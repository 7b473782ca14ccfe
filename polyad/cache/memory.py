"""The embedded cache: cachetools' LRU bounded by the bytes of the stored values, with a time to
live per entry.

An expired entry is a miss and goes when it is read or when `cleanup()` sweeps; until then it
counts towards the bound, and the LRU order evicts it like any other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

import cachetools
import orjson
import structlog

from polyad.cache.base import Backend, CacheStats, Counters, lifetime_s

__all__ = ["MemoryCache"]

# A sweep of a large cache yields to the event loop between chunks, so requests never wait on it.
_SWEEP_CHUNK = 10_000
log = structlog.get_logger(logger_name="polyad.cache")


class _Entry(NamedTuple):
    payload: bytes          # the value's orjson bytes
    expires_at_s: float     # on the cache's clock


def _payload_size(entry: _Entry) -> int:
    return len(entry.payload)


def _payload(value: Any) -> bytes:
    """The value's JSON, in a bytes object of its own size. orjson's own result keeps the buffer
    it was written in: 4 KB at least, 64 KB for a 5 KB value (measured, orjson 3.13), so a
    cache of small values held 60 to 150 times what it counted against its bound."""
    return memoryview(orjson.dumps(value)).tobytes()


class _ValuesLRU(cachetools.LRUCache[str, _Entry]):
    """cachetools calls `popitem` to make room: that is where evictions are counted."""

    def __init__(self, max_size_bytes: int, counters: Counters) -> None:
        super().__init__(max_size_bytes, getsizeof=_payload_size)
        self._counters = counters

    def popitem(self) -> tuple[str, _Entry]:
        item = super().popitem()
        self._counters.evictions += 1
        return item

    def remove_expired(self, keys: Iterable[str], now_s: float) -> int:
        removed = 0
        for key in keys:
            # read through the base class: a sweep must not refresh the LRU order
            if key in self and cachetools.Cache.__getitem__(self, key).expires_at_s <= now_s:
                del self[key]
                removed += 1
        return removed


class MemoryCache:
    def __init__(self, max_size_bytes: int, default_ttl_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.counters = Counters()
        self._values = _ValuesLRU(max_size_bytes, self.counters)
        self._max_size_bytes = max_size_bytes
        self._default_ttl_s = default_ttl_s
        self._clock = clock

    @property
    def backend(self) -> Backend:
        return "memory"

    async def get(self, key: str) -> Any | None:
        return self._get(key)

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        found = {key: self._get(key) for key in keys}
        return {key: value for key, value in found.items() if value is not None}

    async def set(self, key: str, value: Any, ttl_s: float | None = None) -> None:
        self._set(key, _payload(value), self._clock() + lifetime_s(ttl_s, self._default_ttl_s))

    async def set_many(self, items: Mapping[str, Any], ttl_s: float | None = None) -> None:
        expires_at_s = self._clock() + lifetime_s(ttl_s, self._default_ttl_s)
        for key, value in items.items():
            self._set(key, _payload(value), expires_at_s)

    async def delete(self, key: str) -> bool:
        entry = self._values.pop(key, None)
        return entry is not None and entry.expires_at_s > self._clock()

    async def clear(self) -> int:
        count = len(self._values)
        self._values.clear()
        return count

    async def cleanup(self) -> int:
        keys = list(self._values)
        removed = 0
        for start in range(0, len(keys), _SWEEP_CHUNK):
            if start:
                await asyncio.sleep(0)
            removed += self._values.remove_expired(keys[start:start + _SWEEP_CHUNK], self._clock())
        self.counters.last_cleanup = datetime.now(UTC)
        return removed

    async def stats(self) -> CacheStats:
        return self.snapshot_stats()

    def snapshot_stats(self) -> CacheStats:
        return self.counters.stats("memory", size_bytes=int(self._values.currsize),
                                   entries=len(self._values), max_size_bytes=self._max_size_bytes)

    def stats_version(self) -> Hashable:
        return self.counters.version(), self._values.currsize, len(self._values)

    async def close(self) -> None:
        self._values.clear()

    def _get(self, key: str) -> Any | None:
        entry = self._values.get(key)
        if entry is None or entry.expires_at_s <= self._clock():
            if entry is not None:
                del self._values[key]
            self.counters.misses += 1
            return None
        self.counters.hits += 1
        return orjson.loads(entry.payload)

    def _set(self, key: str, payload: bytes, expires_at_s: float) -> None:
        if len(payload) > self._max_size_bytes:
            self._values.pop(key, None)  # the old value is stale now
            self.counters.evictions += 1
            log.debug("cache value larger than the whole cache, not kept", key=key,
                      size_bytes=len(payload), max_size_bytes=self._max_size_bytes)
            return
        self._values[key] = _Entry(payload, expires_at_s)
