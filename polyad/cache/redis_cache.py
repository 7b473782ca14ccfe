"""The shared cache: values in Redis under `{redis.prefix}cache:`, each key with its own expiry
(`SET … PX`), batches pipelined.

Redis expires keys itself, so `cleanup()` removes nothing: it stamps `last_cleanup` and
refreshes what only the server knows. Those numbers are honest about being the server's:
`size_bytes` is INFO memory's `used_memory` (every key on the server; summing `MEMORY USAGE` per
key would cost a round trip per key), `evictions` adds INFO stats' `evicted_keys` (server-wide,
since it started), and `entries` counts the cache's keys with SCAN, at most every few seconds
and over at most a million keys of the database.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from polyad.cache.base import Backend, CacheStats, Counters, lifetime_s
from polyad.redis_link import Client

__all__ = ["RedisCache"]

_SCAN_COUNT = 1000
_MAX_SCANS = 1000          # 1M keys looked at, at most, to count the entries
_UNLINK_BATCH = 500


def _glob_escaped(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _milliseconds(ttl_s: float) -> int:
    return max(1, math.ceil(ttl_s * 1000))


class RedisCache:
    def __init__(self, client: Client, namespace: str, default_ttl_s: float, *,
                 recount_after_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.counters = Counters()
        self._client = client
        self._namespace = namespace
        self._pattern = f"{_glob_escaped(namespace)}*"
        self._default_ttl_s = default_ttl_s
        self._recount_after_s = recount_after_s
        self._clock = clock
        self._counted_at_s = -math.inf
        self._entries = 0
        self._used_memory_bytes = 0
        self._server_evictions = 0

    @property
    def backend(self) -> Backend:
        return "redis"

    async def get(self, key: str) -> Any | None:
        return self._decoded(await self._client.get(self._namespace + key))

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        wanted = list(keys)
        if not wanted:
            return {}
        payloads = await self._client.mget([self._namespace + key for key in wanted])
        found = {key: self._decoded(payload)
                 for key, payload in zip(wanted, payloads, strict=True)}
        return {key: value for key, value in found.items() if value is not None}

    async def set(self, key: str, value: Any, ttl_s: float | None = None) -> None:
        await self._client.set(self._namespace + key, orjson.dumps(value),
                               px=_milliseconds(lifetime_s(ttl_s, self._default_ttl_s)))

    async def set_many(self, items: Mapping[str, Any], ttl_s: float | None = None) -> None:
        ttl_ms = _milliseconds(lifetime_s(ttl_s, self._default_ttl_s))
        async with self._client.pipeline(transaction=False) as pipe:
            for key, value in items.items():
                pipe.set(self._namespace + key, orjson.dumps(value), px=ttl_ms)
            await pipe.execute()

    async def delete(self, key: str) -> bool:
        return bool(await self._client.delete(self._namespace + key))

    async def clear(self) -> int:
        removed = 0
        batch: list[bytes] = []
        async for key in self._client.scan_iter(match=self._pattern, count=_SCAN_COUNT):
            batch.append(key)
            if len(batch) == _UNLINK_BATCH:
                removed += await self._client.unlink(*batch)
                batch.clear()
        if batch:
            removed += await self._client.unlink(*batch)
        self._counted_at_s = -math.inf
        return removed

    async def cleanup(self) -> int:
        await self._refresh_server_numbers()
        self.counters.last_cleanup = datetime.now(UTC)
        return 0

    async def stats(self) -> CacheStats:
        await self._refresh_server_numbers()
        return self.snapshot_stats()

    def snapshot_stats(self) -> CacheStats:
        return self.counters.stats("redis", size_bytes=self._used_memory_bytes,
                                   entries=self._entries, max_size_bytes=None,
                                   server_evictions=self._server_evictions)

    def stats_version(self) -> Hashable:
        return (self.counters.version(), self._used_memory_bytes, self._entries,
                self._server_evictions)

    async def close(self) -> None:
        """The client is the link's (polyad/redis_link.py): it closes it."""

    def _decoded(self, payload: bytes | str | None) -> Any | None:
        if payload is None:
            self.counters.misses += 1
            return None
        self.counters.hits += 1
        return orjson.loads(payload)

    async def _refresh_server_numbers(self) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.info("memory")
            pipe.info("stats")
            memory, stats = await pipe.execute()
        self._used_memory_bytes = int(memory["used_memory"])
        self._server_evictions = int(stats["evicted_keys"])
        if self._clock() - self._counted_at_s >= self._recount_after_s:
            self._entries = await self._count_entries()
            self._counted_at_s = self._clock()

    async def _count_entries(self) -> int:
        cursor, count = 0, 0
        for _ in range(_MAX_SCANS):
            cursor, keys = await self._client.scan(cursor, match=self._pattern,
                                                   count=_SCAN_COUNT)
            count += len(keys)
            if cursor == 0:
                break
        return count
