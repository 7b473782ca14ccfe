"""The agent's one Redis: one client (polyad/redis_client.py: one connection pool, one set of
timeouts and retries, from `redis.*`) that the cache, the rate limits and the task queue share,
and one view of whether Redis can be reached.

An outage is seen once, whichever part meets it first: it is logged once, the health board's
`redis` component fails, and each part's listener moves it to its fallback (the cache serves
from memory, the rate limits count in memory, the task queue answers 503). While Redis is away
the parts do not try it: the link pings it, after 0.5 s, 1 s, 2 s, then every 5 s
(`PROBE_BACKOFF_S`), so a Redis that is back is used again within seconds, traffic or not. It
also pings at start, so `/status` is true from the first second.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import structlog
from redis.exceptions import RedisError

from polyad.config import RedisConfig
from polyad.health import HealthBoard
from polyad.redis_client import Client, describe, redis_client

__all__ = ["COMPONENT", "PROBE_BACKOFF_S", "UNREACHABLE", "Client", "RedisLink"]

COMPONENT = "redis"
# between pings while Redis is away: soon at first, then no more than every 5 s
PROBE_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)
UNREACHABLE = (RedisError, OSError)     # what any call raises while Redis cannot be reached
log = structlog.get_logger(logger_name="polyad.redis")

T = TypeVar("T")
# Told True when Redis is back, False when it went away.
Listener = Callable[[bool], None]


class RedisLink:
    """`timeout_s`: what a command may wait, when not redis.timeout (Config.redis_timeout_s)."""

    def __init__(self, config: RedisConfig, health: HealthBoard, *,
                 timeout_s: float | None = None,
                 probe_backoff_s: Sequence[float] = PROBE_BACKOFF_S) -> None:
        self.client = redis_client(config, timeout_s)
        self.timeout_s = timeout_s or config.timeout
        self.prefix = config.prefix
        self.where = describe(config)
        self.listeners: list[Listener] = []
        self._health = health
        self._probe_backoff_s = tuple(probe_backoff_s)
        self._away_since: datetime | None = None
        self._changed = asyncio.Event()
        health.report(COMPONENT, ok=True, detail=f"{self.where}, not checked yet")

    @property
    def away(self) -> bool:
        return self._away_since is not None

    def failed(self, error: BaseException) -> None:
        """A part's call could not reach Redis. The first failure of an outage is logged and
        told; later ones change nothing."""
        if self._away_since is not None:
            return
        self._away_since = datetime.now(UTC)
        reason = type(error).__name__
        log.warning("redis unreachable", where=self.where, error=reason)
        self._health.report(COMPONENT, ok=False, detail=(
            f"{self.where} unreachable ({reason}) since "
            f"{self._away_since.strftime('%H:%M:%S')} UTC"))
        self._tell(back=False)

    async def call(self, call: Awaitable[T], unavailable: Callable[[], Exception]) -> T:
        """A part's call whose caller must be answered now: `unavailable()` is raised instead,
        at once while Redis is away (the call dropped unmade), or when the call meets an outage
        (which it tells)."""
        if self.away:
            if isinstance(call, Coroutine):
                call.close()
            raise unavailable()
        try:
            return await call
        except UNREACHABLE as error:
            self.failed(error)
            raise unavailable() from None

    async def ping(self) -> bool:
        """Whether Redis answers; only a ping brings an outage to its end (a part's call that
        began before the outage and succeeds after it proves nothing)."""
        try:
            await self.client.ping()
        except UNREACHABLE as error:
            self.failed(error)
            return False
        if self._away_since is not None:
            away_s = (datetime.now(UTC) - self._away_since).total_seconds()
            self._away_since = None
            log.info("redis is back", where=self.where, away_s=round(away_s, 1))
            self._tell(back=True)
        self._health.report(COMPONENT, ok=True, detail=self.where)
        return True

    async def watch(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Until cancelled: while Redis is away, a ping after each probe delay. The first ping
        is the start's (`ping`, awaited before the agent serves)."""
        while True:
            if not self.away:
                self._changed.clear()
                await self._changed.wait()
                continue
            pings = 0
            while self.away:
                delay_s = self._probe_backoff_s[min(pings, len(self._probe_backoff_s) - 1)]
                await sleep(delay_s)
                await self.ping()
                pings += 1

    async def close(self) -> None:
        with contextlib.suppress(*UNREACHABLE):
            await self.client.aclose()
            await self.client.connection_pool.disconnect()

    def _tell(self, *, back: bool) -> None:
        self._changed.set()
        for listener in self.listeners:
            listener(back)
