"""Rounds in alternation (A B, B A, A B, …), so that polyad and its baseline see the same
machine noise; each figure is then the median of its rounds."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

T = TypeVar("T")


def alternate(rounds: int, contenders: Mapping[str, Callable[[], T]]) -> dict[str, list[T]]:
    results: dict[str, list[T]] = {name: [] for name in contenders}
    order = list(contenders)
    for index in range(rounds):
        for name in order if index % 2 == 0 else order[::-1]:
            results[name].append(contenders[name]())
    return results


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))
