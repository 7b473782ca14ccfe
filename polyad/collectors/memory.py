"""Physical memory and swap, as the kernel reports them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil
from pydantic import Field

from polyad.collectors.base import PERCENT, CollectorSpec, JsonPiece, MetricSpec, PieceModel, scalar
from polyad.config import CollectorConfig, HostConfig
from polyad.units import format_bytes

__all__ = ["SPEC", "MemoryCollector", "MemorySample"]


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


# -- what it declares ----------------------------------------------------------------------
class MemoryMetrics(PieceModel):
    usage: float | None
    available: str | None = Field(description='Human size, e.g. "8GB"')
    available_bytes: int | None
    used: str | None
    used_bytes: int | None
    total: str | None
    total_bytes: int | None
    swap_used_bytes: int | None
    swap_total_bytes: int | None


def _piece(sample: MemorySample | None) -> MemoryMetrics:
    if sample is None:
        return MemoryMetrics(usage=None, available=None, available_bytes=None, used=None,
                             used_bytes=None, total=None, total_bytes=None,
                             swap_used_bytes=None, swap_total_bytes=None)
    return MemoryMetrics(
        usage=sample.usage_percent,
        available=format_bytes(sample.available_bytes), available_bytes=sample.available_bytes,
        used=format_bytes(sample.used_bytes), used_bytes=sample.used_bytes,
        total=format_bytes(sample.total_bytes), total_bytes=sample.total_bytes,
        swap_used_bytes=sample.swap_used_bytes, swap_total_bytes=sample.swap_total_bytes)


_METRICS = (
    MetricSpec("system.memory.utilization", "memory.usage", "1",
               "Share of physical memory not available to new processes",
               lambda sample: scalar(sample.usage_percent), otel_scale=PERCENT),
    MetricSpec("system.memory.linux.available", "memory.available_bytes", "By",
               "Memory available to new processes without swapping",
               lambda sample: scalar(sample.available_bytes)),
    MetricSpec("system.memory.usage", "memory.used_bytes", "By",
               "Physical memory in use (total minus available)",
               lambda sample: scalar(sample.used_bytes)),
    MetricSpec("system.memory.limit", "memory.total_bytes", "By", "Physical memory installed",
               lambda sample: scalar(sample.total_bytes)),
    MetricSpec("system.paging.usage", "memory.swap_used_bytes", "By", "Swap space in use",
               lambda sample: scalar(sample.swap_used_bytes)),
    MetricSpec("polyad.paging.limit", "memory.swap_total_bytes", "By", "Swap space configured",
               lambda sample: scalar(sample.swap_total_bytes)),
)


def _build(_: CollectorConfig, __: HostConfig) -> MemoryCollector:
    return MemoryCollector()  # psutil reads host.procfs (see registry.build_collectors)


SPEC = CollectorSpec(
    name="memory", config=CollectorConfig, build=_build, metrics=_METRICS,
    pieces=(JsonPiece("memory", MemoryMetrics, _piece),),
    resource=lambda sample: sample.usage_percent,
    component="memory", monitored=("memory.usage", "memory.available_bytes"))
