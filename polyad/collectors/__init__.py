"""The collectors, by name; `build_collectors` makes the enabled ones from configuration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from polyad.collectors.base import Collector
from polyad.collectors.cpu import CpuCollector, CpuSample
from polyad.collectors.gpu import GpuCollector, GpuDevice, GpuSample
from polyad.collectors.memory import MemoryCollector, MemorySample
from polyad.collectors.network import Interface, NetworkCollector, NetworkSample
from polyad.collectors.sensors import SensorsCollector, SensorsSample, Temperature
from polyad.config import CollectorConfig, CollectorsConfig, NetworkCollectorConfig

__all__ = [
    "COLLECTORS",
    "Collector",
    "CpuSample",
    "GpuDevice",
    "GpuSample",
    "Interface",
    "MemorySample",
    "NetworkSample",
    "SensorsSample",
    "Temperature",
    "build_collectors",
]


def _network(config: CollectorConfig) -> NetworkCollector:
    assert isinstance(config, NetworkCollectorConfig)
    return NetworkCollector(exclude=config.exclude)


# name → factory taking that collector's config section; the order is the snapshot's order.
COLLECTORS: dict[str, Callable[[CollectorConfig], Collector[Any]]] = {
    "cpu": lambda _: CpuCollector(),
    "memory": lambda _: MemoryCollector(),
    "gpu": lambda _: GpuCollector(),
    "sensors": lambda _: SensorsCollector(),
    "network": _network,
}


def build_collectors(config: CollectorsConfig) -> list[Collector[Any]]:
    sections: dict[str, CollectorConfig] = {name: getattr(config, name) for name in COLLECTORS}
    return [COLLECTORS[name](section) for name, section in sections.items() if section.enabled]
