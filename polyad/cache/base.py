"""What every cache backend offers, and the numbers it reports about itself."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from polyad.units import format_bytes

__all__ = ["COMPONENT", "Backend", "Cache", "CacheStats", "Counters", "hit_rate_percent",
           "lifetime_s"]

COMPONENT = "cache"  # its name on the health board
Backend = Literal["memory", "redis"]


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A backend's numbers at one moment. For `redis`, `size_bytes` is the server's
    `used_memory` and `evictions` include the server's `evicted_keys`: both count the whole
    server, not only the cache's keys (see redis_cache.py)."""

    backend: Backend
    hits: int
    misses: int
    hit_rate: float                 # percent of lookups that found a value; 0.0 before any
    evictions: int
    size_bytes: int
    entries: int
    max_size_bytes: int | None      # None: bounded by the Redis server, not by the agent
    last_cleanup: datetime | None   # UTC

    @property
    def size(self) -> str:
        return format_bytes(self.size_bytes)


def hit_rate_percent(hits: int, misses: int) -> float:
    lookups = hits + misses
    return round(100 * hits / lookups, 1) if lookups else 0.0


def lifetime_s(ttl_s: float | None, default_ttl_s: float) -> float:
    if ttl_s is None:
        return default_ttl_s
    if ttl_s <= 0:
        raise ValueError(f"expected a positive ttl_s, got {ttl_s!r}")
    return ttl_s


@dataclass(slots=True)
class Counters:
    """What the agent counts itself, whichever store holds the values."""

    hits: int = 0
    misses: int = 0
    evictions: int = 0
    last_cleanup: datetime | None = None

    def version(self) -> tuple[int, int, int, datetime | None]:
        return self.hits, self.misses, self.evictions, self.last_cleanup

    def stats(self, backend: Backend, *, size_bytes: int, entries: int,
              max_size_bytes: int | None, server_evictions: int = 0) -> CacheStats:
        return CacheStats(backend=backend, hits=self.hits, misses=self.misses,
                          hit_rate=hit_rate_percent(self.hits, self.misses),
                          evictions=self.evictions + server_evictions, size_bytes=size_bytes,
                          entries=entries, max_size_bytes=max_size_bytes,
                          last_cleanup=self.last_cleanup)


class Cache(Protocol):
    """Values are JSON-able objects, stored as orjson bytes (never pickled); every read decodes
    a fresh copy, so a caller cannot change what is cached. A `None` value reads as a miss.
    `ttl_s=None` means the configured default; a value that is not JSON-able raises TypeError.
    """

    @property
    def backend(self) -> Backend: ...

    async def get(self, key: str) -> Any | None: ...

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The keys that were found, with their values."""
        ...

    async def set(self, key: str, value: Any, ttl_s: float | None = None) -> None: ...

    async def set_many(self, items: Mapping[str, Any], ttl_s: float | None = None) -> None: ...

    async def delete(self, key: str) -> bool:
        """Whether a live entry was there."""
        ...

    async def clear(self) -> int:
        """Remove every entry of this cache (and nothing else); how many there were."""
        ...

    async def cleanup(self) -> int:
        """Remove expired entries and stamp `last_cleanup`; how many were removed."""
        ...

    async def stats(self) -> CacheStats: ...

    def snapshot_stats(self) -> CacheStats:
        """The last known numbers, without I/O (for metric callbacks)."""
        ...

    def stats_version(self) -> Hashable:
        """Changes whenever `snapshot_stats()` would, and costs far less: what /status's memo
        keys on (building the stats on every request was 5% of a GET /status's CPU)."""
        ...

    async def close(self) -> None: ...
