"""Sliding-window request counters held in this process: O(1) per hit, no locks (one event
loop owns them), stale identities dropped oldest first as they age out.

`limits`' own memory storage takes a lock and schedules an expiry task on every hit; measured
on the agent it was 12% of the CPU of a GET /status, against under 2% for this.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["SlidingWindows", "Verdict"]

# Expired counters dropped per counted hit, at most: a bounded cost per request (never a sweep
# of the table), yet faster than one new identity per hit can fill it.
_EXPIRED_PER_HIT = 4


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    remaining: int
    reset_s: int      # when refused: seconds until a request would pass


@dataclass(slots=True)
class _Counter:
    window: int           # index of the current fixed window
    previous: int         # the previous window's count
    current: int          # the current window's count
    forget_at: float      # when both windows have passed: nothing of this counter is left


class SlidingWindows:
    """The count over the last `window_s` is estimated as the current fixed window's count plus
    the previous window's, weighted by how much of it still overlaps (as limits' sliding-window
    counter does): exact within a window, smooth across its edge."""

    def __init__(self, clock: Callable[[], float] = time.time,
                 max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        # Least recently counted first, so both expiry and eviction take from the front, O(1).
        # (Past 100,000 identities, finding the oldest by a rescan cost 4 ms per new identity.)
        self._counters: OrderedDict[str, _Counter] = OrderedDict()

    def hit(self, key: str, limit: int, window_s: int, *, count: bool = True) -> Verdict:
        """Whether one more request fits; `count=False` asks without counting it."""
        now = self._clock()
        window = int(now // window_s)
        previous, current = self._counts_at(self._counters.get(key), window)
        overlap = 1.0 - (now - window * window_s) / window_s
        estimate = previous * overlap + current
        if estimate + 1 > limit:
            return Verdict(False, 0, self._wait_s(now, window, window_s, previous, current, limit))
        if not count:
            return Verdict(True, max(0, math.floor(limit - estimate)), 0)
        self._count(key, _Counter(window, previous, current + 1, (window + 2) * window_s))
        self._make_room(now)
        return Verdict(True, max(0, math.floor(limit - estimate - 1)), 0)

    @staticmethod
    def _counts_at(counter: _Counter | None, window: int) -> tuple[int, int]:
        """(previous, current) counts as seen from `window`."""
        if counter is None or window > counter.window + 1:
            return 0, 0
        if window == counter.window + 1:
            return counter.current, 0
        return counter.previous, counter.current

    @staticmethod
    def _wait_s(now: float, window: int, window_s: int, previous: int, current: int,
                limit: int) -> int:
        window_end = (window + 1) * window_s
        if current + 1 > limit or previous == 0:
            return max(1, math.ceil(window_end - now))
        # the previous window's weight falls linearly to 0 at window_end
        needed_overlap = (limit - 1 - current) / previous
        passes_at = window_end - needed_overlap * window_s
        return max(1, math.ceil(passes_at - now))

    def _count(self, key: str, counter: _Counter) -> None:
        self._counters[key] = counter
        self._counters.move_to_end(key)

    def _make_room(self, now: float) -> None:
        # Counters are ordered by their last count, so the front expires first. (With limits of
        # several window lengths a long-window counter at the front holds back shorter ones
        # behind it; they are harmless, counted as nothing when seen, and bounded below.)
        for _ in range(_EXPIRED_PER_HIT):
            oldest = next(iter(self._counters.values()), None)
            if oldest is None or oldest.forget_at > now:
                break
            self._counters.popitem(last=False)
        # Still too many live identities (a flood of made-up ones): drop the least recently
        # counted. It starts afresh, which is the lesser harm next to memory without bound.
        while len(self._counters) > self._max_keys:
            self._counters.popitem(last=False)

    def __len__(self) -> int:
        return len(self._counters)
