"""Per-identity rate limits: counted in this process, or in Redis through `limits` (shared by a
fleet of agents, atomic in Redis).

When Redis cannot be reached the counts move to memory and the health board says so, until the
agent's Redis link (polyad/redis_link.py) sees it back; a request never fails because the
counter store did.

Both count with sliding-window counters, not `limits`' moving window: in memory the moving
window keeps one entry per hit and inserts at the head of a list, O(limit) per hit (measured: a
100M/minute limit cut /status throughput by a fifth); the counter is O(1).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from polyad.config import RateLimitConfig
from polyad.health import HealthBoard
from polyad.security.windows import SlidingWindows
from polyad.units import parse_rate

if TYPE_CHECKING:
    import limits

    from polyad.redis_link import RedisLink

__all__ = ["COMPONENT", "Limited", "RateLimiter"]

COMPONENT = "rate_limit"


# Past its allowance, an address may still have a tenth as many public-key signatures checked:
# enough for the fresh tokens of the users behind a NAT it shares with a flooder, while the
# flood's forged tokens can add no more than a tenth to the signature checks it costs.
_SPARE_DIVISOR = 10


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
    """`limits`' counters in Redis, over the agent's one connection pool. Imported only when
    chosen: `limits` and what it pulls in (wrapt, deprecated) are about 1 MB of resident memory
    that memory counting does without."""

    def __init__(self, link: RedisLink, rules: Iterable[_Rule]) -> None:
        import limits
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import SlidingWindowCounterRateLimiter

        # the URI only names the implementation: the pool is the link's
        storage = RedisStorage("async+redis://", implementation="redispy",
                               # typed as a plain option; `limits` hands it to redis-py
                               connection_pool=link.client.connection_pool,  # type: ignore[arg-type]
                               key_prefix=f"{link.prefix}ratelimit", wrap_exceptions=True)
        self.link = link
        self.limiter = SlidingWindowCounterRateLimiter(storage)
        self.items: dict[str, limits.RateLimitItem] = {rule.text: limits.parse(rule.text)
                                                       for rule in rules}


class RateLimiter:
    """`link`: the agent's Redis, for `rate_limit.storage: redis`."""

    def __init__(self, config: RateLimitConfig, health: HealthBoard,
                 link: RedisLink | None = None) -> None:
        self._default = _Rule.of(config.default)
        self._tasks = _Rule.of(config.tasks)
        self._spare = self._default.share(_SPARE_DIVISOR)
        self._memory = SlidingWindows()
        self._shared = None
        if config.storage == "redis":
            assert link is not None, "rate_limit.storage redis needs the agent's Redis link"
            self._shared = _Shared(link, (self._default, self._tasks, self._spare))
            link.listeners.append(self._redis_changed)
        self._health = health
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
        return self._shared is not None and not self._shared.link.away

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
                return None
            stats = await limiter.get_window_stats(item, identity)
        except StorageError as error:
            self._shared.link.failed(error.storage_error)
            return _Unreachable()
        reset_s = max(1, math.ceil(stats.reset_time - time.time()))
        return Limited(limit=item.amount, remaining=stats.remaining, reset_s=reset_s)

    def _redis_changed(self, back: bool) -> None:
        self._health.report(COMPONENT, ok=back, detail="redis storage" if back else
                            "redis unreachable (see redis); counting in memory")
