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
