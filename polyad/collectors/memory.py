"""Physical memory and swap, as the kernel reports them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

__all__ = ["MemoryCollector", "MemorySample"]


@dataclass(frozen=True, slots=True)
class MemorySample:
    total_bytes: int
    available_bytes: int
    used_bytes: int
    usage_percent: float
    swap_total_bytes: int
    swap_used_bytes: int


class MemoryCollector:
    name = "memory"
    no_data: str | None = None

    def __init__(
        self,
        read_virtual: Callable[[], Any] = psutil.virtual_memory,
        read_swap: Callable[[], Any] = psutil.swap_memory,
    ) -> None:
        self._read_virtual = read_virtual
        self._read_swap = read_swap

    def collect(self) -> MemorySample:
        virtual = self._read_virtual()
        swap = self._read_swap()
        return MemorySample(
            total_bytes=virtual.total,
            available_bytes=virtual.available,
            used_bytes=virtual.total - virtual.available,
            usage_percent=round(virtual.percent, 1),
            swap_total_bytes=swap.total,
            swap_used_bytes=swap.used,
        )

    def close(self) -> None:
        pass
