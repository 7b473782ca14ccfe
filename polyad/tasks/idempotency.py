"""Idempotency keys for task submissions (the IETF draft's `Idempotency-Key` header, as payment
APIs use it): a client that retries a `POST /task` after a timeout gets the first task again
instead of a second one.

A key belongs to an identity (a token's subject) and is kept `tasks.idempotency_ttl` with the
task it named and the fingerprint of the request that made it. It is claimed before the task is
queued, atomically (one of two concurrent requests with the same key queues the task); a
submission that fails to queue gives its key back, so the retry can succeed. Kept where the
tasks are: in memory, or in Redis so that a retry through another agent of the fleet is
recognised too.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from polyad.tasks.backend import unreachable_queue

if TYPE_CHECKING:   # redis-py is loaded only when a part uses Redis
    from polyad.redis_link import RedisLink

__all__ = ["Claimed", "IdempotencyKeys", "MemoryKeys", "RedisKeys", "fingerprint",
           "scoped_key"]

MAX_MEMORY_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class Claimed:
    """What a key already names: the task it made, and the request's fingerprint."""

    task_id: str
    fingerprint: str


def scoped_key(identity: str, key: str) -> str:
    """The key as stored: hashed with its identity (another client's same key is another key,
    and no key or subject is stored as written)."""
    return hashlib.sha256(f"{identity}\0{key}".encode()).hexdigest()


def fingerprint(request: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(request, option=orjson.OPT_SORT_KEYS)).hexdigest()


class IdempotencyKeys(Protocol):
    async def claim(self, key: str, claimed: Claimed, ttl_s: float) -> Claimed | None:
        """None when `key` was free and now names `claimed`; else what it named already."""

    async def release(self, key: str) -> None:
        """The submission did not queue its task: the key is free again."""


class MemoryKeys:
    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = MAX_MEMORY_KEYS) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._keys: OrderedDict[str, tuple[Claimed, float]] = OrderedDict()

    async def claim(self, key: str, claimed: Claimed, ttl_s: float) -> Claimed | None:
        now_s = self._clock()
        found = self._keys.get(key)
        if found is not None and found[1] > now_s:
            return found[0]
        self._keys.pop(key, None)
        self._keys[key] = (claimed, now_s + ttl_s)
        while len(self._keys) > self._max_keys:   # the oldest claims go first
            self._keys.popitem(last=False)
        return None

    async def release(self, key: str) -> None:
        self._keys.pop(key, None)


class RedisKeys:
    """`P idempotency:<scoped key>` → the claim, expiring with its TTL (SET NX PX)."""

    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._prefix = f"{link.prefix}idempotency:"

    async def claim(self, key: str, claimed: Claimed, ttl_s: float) -> Claimed | None:
        value = orjson.dumps({"task_id": claimed.task_id, "fingerprint": claimed.fingerprint})
        for _ in range(2):   # the key may expire between the SET that failed and the GET
            if await self._call(self._link.client.set(self._prefix + key, value, nx=True,
                                                      px=max(1, round(ttl_s * 1000)))):
                return None
            stored = await self._call(self._link.client.get(self._prefix + key))
            if stored is not None:
                fields = orjson.loads(stored)
                return Claimed(fields["task_id"], fields["fingerprint"])
        return None

    async def release(self, key: str) -> None:
        await self._call(self._link.client.delete(self._prefix + key))

    async def _call(self, call: Any) -> Any:
        return await self._link.call(call, unreachable_queue)
