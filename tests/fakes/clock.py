"""A clock the test moves, for code that takes a `clock` callable."""

from __future__ import annotations

__all__ = ["FakeClock"]


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds
