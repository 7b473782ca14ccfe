from __future__ import annotations

from polyad.security.windows import SlidingWindows


class Clock:
    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def test_exactly_the_limit_passes_within_a_window() -> None:
    clock = Clock(600.0)  # the start of a 60 s window
    windows = SlidingWindows(clock)
    verdicts = [windows.hit("a", 5, 60) for _ in range(15)]
    assert [v.allowed for v in verdicts] == [True] * 5 + [False] * 10
    assert [v.remaining for v in verdicts[:5]] == [4, 3, 2, 1, 0]
    assert verdicts[5].reset_s == 60  # the whole window must pass first


def test_identities_and_limits_are_counted_apart() -> None:
    windows = SlidingWindows(Clock(0.0))
    assert all(windows.hit("a", 2, 60).allowed for _ in range(2))
    assert not windows.hit("a", 2, 60).allowed
    assert windows.hit("b", 2, 60).allowed


def test_the_previous_window_weighs_in_as_it_slides_out() -> None:
    clock = Clock(0.0)
    windows = SlidingWindows(clock)
    for _ in range(10):
        assert windows.hit("a", 10, 60).allowed
    clock.now_s = 90.0  # half-way through the next window: 10 x 0.5 = 5 still counted
    allowed = [windows.hit("a", 10, 60).allowed for _ in range(10)]
    assert allowed == [True] * 5 + [False] * 5  # 5 carried over + 5 new = the limit
    # the next passes once 10 x overlap ≤ 10 - 1 - 5, i.e. overlap 0.4, at t = 96
    assert windows.hit("a", 10, 60).reset_s == 6
    clock.now_s = 96.0
    assert windows.hit("a", 10, 60).allowed
    clock.now_s = 200.0  # two windows later, nothing is left of either
    assert windows.hit("a", 10, 60).remaining == 9


def test_stale_identities_are_forgotten() -> None:
    clock = Clock(0.0)
    windows = SlidingWindows(clock)
    for index in range(5000):
        windows.hit(f"client-{index}", 10, 1)
    clock.now_s = 10.0
    for _ in range(5000):  # enough hits to trigger a purge
        windows.hit("steady", 100_000, 1)
    assert len(windows) == 1


class Reading(float):
    """A clock reading that counts the comparisons made with it. A counter is expired by
    comparing its deadline with now, so this counts the counters the table looks at."""

    comparisons: list[int]

    def _compared(self) -> float:
        self.comparisons[0] += 1
        return float(self)

    def __lt__(self, other: float) -> bool:
        return self._compared() < other

    def __le__(self, other: float) -> bool:
        return self._compared() <= other

    def __gt__(self, other: float) -> bool:
        return self._compared() > other

    def __ge__(self, other: float) -> bool:
        return self._compared() >= other


class CountingClock:
    def __init__(self, now_s: float) -> None:
        self.now_s = now_s
        self.comparisons = [0]

    def __call__(self) -> float:
        reading = Reading(self.now_s)
        reading.comparisons = self.comparisons
        return reading


def test_a_new_identity_past_the_cap_costs_no_rescan_of_the_table() -> None:
    clock = CountingClock(600.0)
    windows = SlidingWindows(clock, max_keys=2000)
    for index in range(2000):
        windows.hit(f"old-{index}", 10, 60)
    clock.comparisons[0] = 0
    newcomers = 100
    for index in range(newcomers):  # each one past the cap: the oldest must make room
        windows.hit(f"new-{index}", 10, 60)
    assert len(windows) == 2000
    # a few looks per identity, not one per identity held (a rescan: 2,000 each)
    assert clock.comparisons[0] <= 5 * newcomers


def test_past_the_cap_the_least_recently_counted_identity_goes_first() -> None:
    windows = SlidingWindows(Clock(0.0), max_keys=3)
    for key in ("a", "b", "c", "a"):
        windows.hit(key, 10, 60)
    windows.hit("d", 10, 60)
    assert len(windows) == 3
    remaining = {key: windows.hit(key, 10, 60, count=False).remaining for key in "abcd"}
    assert remaining == {"a": 8, "b": 10, "c": 9, "d": 9}  # b made room, a kept its count


def test_expired_counters_are_dropped_before_live_ones_are_evicted() -> None:
    clock = Clock(0.0)
    windows = SlidingWindows(clock, max_keys=3)
    windows.hit("stale", 10, 1)
    clock.now_s = 30.0
    for key in ("a", "b", "a", "c"):
        windows.hit(key, 10, 60)
    assert len(windows) == 3
    assert windows.hit("a", 10, 60, count=False).remaining == 8
    assert windows.hit("b", 10, 60, count=False).remaining == 9
