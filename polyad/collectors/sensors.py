"""Temperatures from the host's hardware sensors, and the CPU package temperature among them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from polyad.collectors.base import NoDataLog

__all__ = ["SensorsCollector", "SensorsSample", "Temperature"]

# (chip, label prefix) pairs that name the CPU package, most specific first.
_CPU_PACKAGE_SENSORS = (
    ("coretemp", "Package id"),   # Intel
    ("k10temp", "Tdie"),          # AMD, true die temperature
    ("k10temp", "Tctl"),          # AMD, control temperature
    ("zenpower", "Tdie"),
    ("cpu_thermal", ""),          # Raspberry Pi and other SoCs
    ("cpu-thermal", ""),
)

ReadTemperatures = Callable[[], Mapping[str, Sequence[Any]]]


@dataclass(frozen=True, slots=True)
class Temperature:
    chip: str
    sensor: str
    celsius: float
    high_celsius: float | None
    critical_celsius: float | None


@dataclass(frozen=True, slots=True)
class SensorsSample:
    temperatures: tuple[Temperature, ...]
    cpu_package_celsius: float | None


def _read_psutil() -> Mapping[str, Sequence[Any]]:
    reader: ReadTemperatures | None = getattr(psutil, "sensors_temperatures", None)
    return reader() if reader is not None else {}


def _positive(value: float | None) -> float | None:
    # Drivers report 0 or negative values for "not set" thresholds.
    return float(value) if value is not None and value > 0 else None


def cpu_package_celsius(temperatures: Sequence[Temperature]) -> float | None:
    """The hottest reading of the first known CPU package sensor family present, else None."""
    for chip, prefix in _CPU_PACKAGE_SENSORS:
        readings = [t.celsius for t in temperatures
                    if t.chip == chip and t.sensor.startswith(prefix)]
        if readings:
            return max(readings)
    return None


def _unique_labels(chip: str, entries: Sequence[Any]) -> list[str]:
    """Sensor names that tell readings apart: psutil files every device of one driver under one
    chip (two sockets both have "Core 0", every NVMe drive has "Composite"), so repeats get #2…"""
    seen: Counter[str] = Counter()
    labels = []
    for index, entry in enumerate(entries):
        label = entry.label or f"{chip}{index}"
        seen[label] += 1
        labels.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return labels


class SensorsCollector:
    name = "sensors"
    no_data: str | None = None

    def __init__(self, read_temperatures: ReadTemperatures = _read_psutil) -> None:
        self._read_temperatures = read_temperatures
        self._no_data = NoDataLog(self.name)

    def collect(self) -> SensorsSample:
        temperatures = tuple(
            Temperature(
                chip=chip,
                sensor=sensor,
                celsius=float(entry.current),
                high_celsius=_positive(entry.high),
                critical_celsius=_positive(entry.critical),
            )
            for chip, entries in sorted(self._read_temperatures().items())
            for sensor, entry in zip(_unique_labels(chip, entries), entries, strict=True)
        )
        self.no_data = None if temperatures else "no temperature sensors on this host"
        if self.no_data:
            self._no_data.once(self.no_data)
        return SensorsSample(temperatures, cpu_package_celsius(temperatures))

    def close(self) -> None:
        pass
