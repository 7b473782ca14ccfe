"""Per-identity rate limits: counted in this process, or in Redis through `limits` (shared by a
fleet of agents, atomic in Redis).

When Redis cannot be reached the counts move to memory, the health board says so, and Redis is
tried again with backoff; a request never fails because the counter store did.

Both count with sliding-window counters, not `limits`' moving window: in memory the moving
window keeps one entry per hit and inserts at the head of a list, O(limit) per hit (measured: a
100M/minute limit cut /status throughput by a fifth); the counter is O(1).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from polyad.config import RateLimitConfig, RedisConfig
from polyad.health import HealthBoard
from polyad.security.windows import SlidingWindows
from polyad.units import parse_rate

if TYPE_CHECKING:
    import limits
    from limits.errors import StorageError

__all__ = ["COMPONENT", "Limited", "RateLimiter"]

COMPONENT = "rate_limit"


_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)
# Past its allowance, an address may still have a tenth as many public-key signatures checked:
# enough for the fresh tokens of the users behind a NAT it shares with a flooder, while the
# flood's forged tokens can add no more than a tenth to the signature checks it costs.
_SPARE_DIVISOR = 10
log = structlog.get_logger(logger_name="polyad.security")


class _Unreachable:
    """The shared storage did not answer: count in memory instead."""


@dataclass(frozen=True, slots=True)
class Limited:
    """Why a request was refused: which limit, and when to come back."""

    limit: int
    remaining: int
    reset_s: int          # seconds until a request would pass again

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.reset_s), "RateLimit-Limit": str(self.limit),
                "RateLimit-Remaining": str(self.remaining), "RateLimit-Reset": str(self.reset_s)}


@dataclass(frozen=True, slots=True)
class _Rule:
    """A configured limit, worked out once (hashing a `limits` item on every request showed in
    profiles)."""

    text: str           # as configured: what `limits` parses when Redis counts
    memory_key: str     # prefix of this limit's in-memory counters
    amount: int
    window_s: int

    @classmethod
    def of(cls, text: str) -> _Rule:
        amount, window_s = parse_rate(text)
        return cls(text, f"{amount}/{window_s}/", amount, window_s)

    def share(self, divisor: int) -> _Rule:
        """This rule's window with a `divisor`-th of its amount (at least one request)."""
        return _Rule.of(f"{max(1, self.amount // divisor)}/{self.window_s} seconds")


class _Shared:
    """`limits`' counters in Redis. Imported only when chosen: `limits` and what it pulls in
    (wrapt, deprecated) are about 1 MB of resident memory that memory counting does without."""

    def __init__(self, redis: RedisConfig, rules: Iterable[_Rule]) -> None:
        import limits
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import SlidingWindowCounterRateLimiter

        storage = RedisStorage(_async_uri(redis.url), implementation="redispy",
                               key_prefix=f"{redis.prefix}ratelimit", wrap_exceptions=True,
                               socket_timeout=0.5, socket_connect_timeout=0.5)
        self.limiter = SlidingWindowCounterRateLimiter(storage)
        self.items: dict[str, limits.RateLimitItem] = {rule.text: limits.parse(rule.text)
                                                       for rule in rules}


def _async_uri(url: str) -> str:
    return url if url.startswith("async+") else f"async+{url}"


class RateLimiter:
    def __init__(self, config: RateLimitConfig, redis: RedisConfig, health: HealthBoard,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._default = _Rule.of(config.default)
        self._tasks = _Rule.of(config.tasks)
        self._spare = self._default.share(_SPARE_DIVISOR)
        self._memory = SlidingWindows()
        self._shared = (_Shared(redis, (self._default, self._tasks, self._spare))
                        if config.storage == "redis" else None)
        self._health = health
        self._clock = clock
        self._failures = 0
        self._retry_at_s = float("-inf")
        health.report(COMPONENT, ok=True, detail=f"{config.storage} storage")

    async def hit(self, identity: str, *, submitting_task: bool = False) -> Limited | None:
        """Count one request; None when it may pass, else the limit it ran into."""
        rules = (self._default, self._tasks) if submitting_task else (self._default,)
        for rule in rules:
            limited = await self._count(rule, identity, count=True)
            if limited is not None:
                return limited
        return None

    async def failed_authentication(self, address: str) -> Limited | None:
        """Count a request that brought no valid token; None while the address may still try."""
        return await self._count(self._default, f"unauthenticated:{address}", count=True)

    async def authentication_spent(self, address: str) -> Limited | None:
        """Whether the address has used up its failures (asked before a costly signature check
        of a new token, so a flood of forged tokens cannot buy many)."""
        return await self._count(self._default, f"unauthenticated:{address}", count=False)

    async def spare_verification(self, address: str) -> Limited | None:
        """Count one costly signature check for an address that has used up its failures
        (a valid user may share the address); None while its spare allowance lasts."""
        return await self._count(self._spare, f"spare-verification:{address}", count=True)

    async def _count(self, rule: _Rule, identity: str, *, count: bool) -> Limited | None:
        if self._use_shared():
            outcome = await self._count_shared(rule, identity, count=count)
            if not isinstance(outcome, _Unreachable):
                return outcome
        return self._count_memory(rule, identity, count=count)

    def _use_shared(self) -> bool:
        return self._shared is not None and self._clock() >= self._retry_at_s

    def _count_memory(self, rule: _Rule, identity: str, *, count: bool) -> Limited | None:
        verdict = self._memory.hit(rule.memory_key + identity, rule.amount, rule.window_s,
                                   count=count)
        if verdict.allowed:
            return None
        return Limited(limit=rule.amount, remaining=0, reset_s=verdict.reset_s)

    async def _count_shared(self, rule: _Rule, identity: str, *,
                            count: bool) -> Limited | _Unreachable | None:
        from limits.errors import StorageError  # loaded with the Redis storage

        assert self._shared is not None
        limiter, item = self._shared.limiter, self._shared.items[rule.text]
        try:
            allowed = await (limiter.hit if count else limiter.test)(item, identity)
            if allowed:
                self._shared_worked()
                return None
            stats = await limiter.get_window_stats(item, identity)
        except StorageError as error:
            self._shared_failed(error)
            return _Unreachable()
        reset_s = max(1, math.ceil(stats.reset_time - time.time()))
        return Limited(limit=item.amount, remaining=stats.remaining, reset_s=reset_s)

    def _shared_failed(self, error: StorageError) -> None:
        delay_s = _BACKOFF_S[min(self._failures, len(_BACKOFF_S) - 1)]
        self._failures += 1
        self._retry_at_s = self._clock() + delay_s
        reason = type(error.storage_error).__name__
        if self._failures == 1:
            log.warning("rate-limit storage unreachable; counting in memory", error=reason)
        self._health.report(COMPONENT, ok=False,
                            detail=f"redis unreachable ({reason}); counting in memory")

    def _shared_worked(self) -> None:
        if self._failures:
            self._failures = 0
            log.info("rate-limit storage is back")
            self._health.report(COMPONENT, ok=True, detail="redis storage")
