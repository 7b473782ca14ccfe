"""The collectors, by name; `build_collectors` makes the enabled ones from configuration."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import psutil

from polyad.collectors.base import Collector
from polyad.collectors.cpu import CpuCollector, CpuSample, read_loadavg
from polyad.collectors.gpu import GpuCollector, GpuDevice, GpuSample
from polyad.collectors.memory import MemoryCollector, MemorySample
from polyad.collectors.network import Interface, NetworkCollector, NetworkSample
from polyad.collectors.sensors import SensorsCollector, SensorsSample, Temperature, read_sysfs
from polyad.config import CollectorConfig, CollectorsConfig, HostConfig, NetworkCollectorConfig

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


def _network(config: CollectorConfig, host: HostConfig) -> NetworkCollector:
    assert isinstance(config, NetworkCollectorConfig)
    return NetworkCollector(exclude=config.exclude, sysfs_net=host.sysfs / "class" / "net")


# name → factory taking that collector's config section and the host's paths; the order is the
# snapshot's order.
COLLECTORS: dict[str, Callable[[CollectorConfig, HostConfig], Collector[Any]]] = {
    "cpu": lambda _, host: CpuCollector(read_load=partial(read_loadavg, host.procfs)),
    "memory": lambda _, host: MemoryCollector(),
    "gpu": lambda _, host: GpuCollector(),
    "sensors": lambda _, host: SensorsCollector(partial(read_sysfs, host.sysfs)),
    "network": _network,
}


def build_collectors(config: CollectorsConfig,
                     host: HostConfig | None = None) -> list[Collector[Any]]:
    host = host or HostConfig()
    # psutil reads /proc through this one setting, for the whole process: the agent watches
    # one host, and tasks that list processes must see the same one.
    psutil.PROCFS_PATH = str(host.procfs)
    sections: dict[str, CollectorConfig] = {name: getattr(config, name) for name in COLLECTORS}
    return [COLLECTORS[name](section, host) for name, section in sections.items()
            if section.enabled]
