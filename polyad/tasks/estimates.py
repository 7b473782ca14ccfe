"""Expected task durations: an exponentially weighted average of past runs per (type, action),
seeded by the handler's own estimate."""

from __future__ import annotations

__all__ = ["Durations"]

_WEIGHT = 0.2  # of each new observation


class Durations:
    def __init__(self) -> None:
        self._expected_s: dict[str, float] = {}

    def expected_s(self, key: str, seed_s: float) -> float:
        return self._expected_s.get(key, seed_s)

    def observe(self, key: str, seed_s: float, duration_s: float) -> None:
        previous = self._expected_s.get(key, seed_s)
        self._expected_s[key] = previous + _WEIGHT * (duration_s - previous)
