"""The collectors: one module per signal, each declaring a `CollectorSpec`; `registry` holds
them by name and builds the enabled ones from configuration."""

from __future__ import annotations

from polyad.collectors.base import Collector, CollectorSpec, JsonPiece, MetricSpec, Reading
from polyad.collectors.cpu import CpuSample
from polyad.collectors.gpu import GpuDevice, GpuSample
from polyad.collectors.memory import MemorySample
from polyad.collectors.network import Interface, NetworkSample
from polyad.collectors.registry import build_collectors, collector_specs
from polyad.collectors.sensors import SensorsSample, Temperature

__all__ = [
    "Collector",
    "CollectorSpec",
    "CpuSample",
    "GpuDevice",
    "GpuSample",
    "Interface",
    "JsonPiece",
    "MemorySample",
    "MetricSpec",
    "NetworkSample",
    "Reading",
    "SensorsSample",
    "Temperature",
    "build_collectors",
    "collector_specs",
]
