"""Temperatures from the host's hardware sensors, and the CPU package temperature among them.

Read from sysfs (`host.sysfs`): every hwmon chip's temperature channels, or, on hosts without
hwmon (some VMs and ARM boards), the thermal zones. psutil reads the same files, but only under
/sys, so a containerized agent with the host's /sys mounted elsewhere could not use it.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from polyad.collectors.base import (
    CollectorSpec,
    JsonPiece,
    MetricSpec,
    NoDataLog,
    PieceModel,
    read_text,
    scalar,
)
from polyad.config import CollectorConfig, HostConfig

__all__ = [
    "SPEC",
    "Channel",
    "Fan",
    "SensorsCollector",
    "SensorsSample",
    "SysfsSensors",
    "Temperature",
    "read_fans",
    "read_sysfs",
]

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
    fans: tuple[Fan, ...] = ()


@dataclass(frozen=True, slots=True)
class Fan:
    chip: str
    sensor: str
    rpm: float


@dataclass(frozen=True, slots=True)
class Channel:
    """One temperature channel as sysfs gives it, in °C; None where the driver says nothing."""

    label: str
    current: float
    high: float | None
    critical: float | None


def _number_in(name: str) -> int:
    digits = re.search(r"\d+", name)
    return int(digits.group()) if digits else 0


def _in_order(paths: Iterable[Path]) -> list[Path]:
    """hwmon2 before hwmon10, temp2 before temp10: the kernel's order, not the alphabet's."""
    return sorted(paths, key=lambda path: _number_in(path.name))


def _hwmon_chips(sysfs: Path) -> Iterator[tuple[str, Path]]:
    """Every hwmon chip that has a name, with its directory."""
    for chip in _in_order((sysfs / "class" / "hwmon").glob("hwmon*")):
        name = read_text(chip / "name") or read_text(chip / "device" / "name")
        if name:
            yield name, chip


def _inputs(chip: Path, kind: str) -> list[tuple[Path, str]]:
    """(directory, stem) of a chip's `{kind}N_input` files (`temp`, `fan`): some drivers put them
    under device/ (psutil #971, Glances #1060)."""
    directory = chip if any(chip.glob(f"{kind}*_input")) else chip / "device"
    return [(directory, found.name.removesuffix("_input"))
            for found in _in_order(directory.glob(f"{kind}*_input"))]


def _celsius(path: str | Path) -> float | None:
    text = read_text(path)
    try:
        return float(text) / 1000 if text else None   # sysfs says millidegrees
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class _Probe:
    """Where one channel's value is, and what does not change between ticks (its label, its
    thresholds)."""

    value_path: str
    label: str
    high: float | None = None
    critical: float | None = None


@dataclass(frozen=True, slots=True)
class _Layout:
    temperatures: dict[str, list[_Probe]]   # by chip name; thermal zones where no chip has any
    fans: dict[str, list[_Probe]]


def _temperature_probes(chip: Path) -> list[_Probe]:
    return [_Probe(str(directory / f"{stem}_input"), read_text(directory / f"{stem}_label") or "",
                   _celsius(directory / f"{stem}_max"), _celsius(directory / f"{stem}_crit"))
            for directory, stem in _inputs(chip, "temp")]


def _fan_probes(chip: Path) -> list[_Probe]:
    """A fan without a label is named after its file (`fan2`)."""
    return [_Probe(str(directory / f"{stem}_input"),
                   read_text(directory / f"{stem}_label") or stem)
            for directory, stem in _inputs(chip, "fan")]


def _thermal_zone_probes(sysfs: Path) -> dict[str, list[_Probe]]:
    zones: defaultdict[str, list[_Probe]] = defaultdict(list)
    for zone in _in_order((sysfs / "class" / "thermal").glob("thermal_zone*")):
        kind = read_text(zone / "type")
        if kind:
            zones[kind].append(_Probe(str(zone / "temp"), ""))
    return dict(zones)


def _scan(sysfs: Path) -> _Layout:
    temperatures: defaultdict[str, list[_Probe]] = defaultdict(list)
    fans: defaultdict[str, list[_Probe]] = defaultdict(list)
    for name, chip in _hwmon_chips(sysfs):
        temperatures[name].extend(_temperature_probes(chip))
        fans[name].extend(_fan_probes(chip))
    with_channels = {name: probes for name, probes in temperatures.items() if probes}
    return _Layout(with_channels or _thermal_zone_probes(sysfs),
                   {name: probes for name, probes in fans.items() if probes})


def _temperatures(layout: _Layout) -> dict[str, list[Channel]]:
    """Channels by chip; a channel that cannot be read this tick is left out, and a chip with
    none left too."""
    chips = {name: [Channel(probe.label, current, probe.high, probe.critical)
                    for probe in probes
                    if (current := _celsius(probe.value_path)) is not None]
             for name, probes in layout.temperatures.items()}
    return {name: channels for name, channels in chips.items() if channels}


def _fans(layout: _Layout) -> dict[str, list[tuple[str, float]]]:
    chips = {name: [(probe.label, float(rpm)) for probe in probes
                    if (rpm := read_text(probe.value_path)) is not None and rpm.isdigit()]
             for name, probes in layout.fans.items()}
    return {name: found for name, found in chips.items() if found}


def read_sysfs(sysfs: Path) -> Mapping[str, Sequence[Channel]]:
    """Channels by chip name, hwmon chips in their kernel order; thermal zones when no chip
    gives a temperature."""
    return _temperatures(_scan(sysfs))


def read_fans(sysfs: Path) -> Mapping[str, Sequence[tuple[str, float]]]:
    """(label, rpm) of every hwmon chip's fans, by chip name."""
    return _fans(_scan(sysfs))


class SysfsSensors:
    """The collector's reader: the chips, their channel files, labels and thresholds found once
    and again every `rescan_s` (a driver loaded later, a hot-plugged drive), so that a tick
    reads one file per channel. On a two-socket host, a third of the file reads of a scan."""

    def __init__(self, sysfs: Path, rescan_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._sysfs = sysfs
        self._rescan_s = rescan_s
        self._clock = clock
        self._layout: _Layout | None = None
        self._scanned_at = float("-inf")

    def _current(self) -> _Layout:
        if self._layout is None or self._clock() - self._scanned_at >= self._rescan_s:
            self._layout, self._scanned_at = _scan(self._sysfs), self._clock()
        return self._layout

    def temperatures(self) -> Mapping[str, Sequence[Channel]]:
        return _temperatures(self._current())

    def fans(self) -> Mapping[str, Sequence[tuple[str, float]]]:
        return _fans(self._current())


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

    def __init__(self, read_temperatures: ReadTemperatures,
                 read_fans: Callable[[], Mapping[str, Sequence[tuple[str, float]]]] = dict
                 ) -> None:
        self._read_temperatures = read_temperatures
        self._read_fans = read_fans
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
        fans = tuple(Fan(chip, label, rpm) for chip, found in sorted(self._read_fans().items())
                     for label, rpm in found)
        return SensorsSample(temperatures, cpu_package_celsius(temperatures), fans)

    def close(self) -> None:
        pass


# -- what it declares ----------------------------------------------------------------------
class CpuTemperature(PieceModel):
    temperature: float | None = Field(description="CPU package temperature, °C")


class TemperatureReading(PieceModel):
    chip: str
    sensor: str
    celsius: float
    high_celsius: float | None
    critical_celsius: float | None


class Temperatures(PieceModel):
    temperatures: list[TemperatureReading]


class FanReading(PieceModel):
    chip: str
    sensor: str
    rpm: float


class Fans(PieceModel):
    fans: list[FanReading] = Field(description="Fan speeds the host's sensors report")


def _cpu_piece(sample: SensorsSample | None) -> CpuTemperature:
    return CpuTemperature(temperature=sample.cpu_package_celsius if sample else None)


def _temperatures_piece(sample: SensorsSample | None) -> Temperatures:
    return Temperatures(temperatures=[
        TemperatureReading(chip=t.chip, sensor=t.sensor, celsius=t.celsius,
                           high_celsius=t.high_celsius, critical_celsius=t.critical_celsius)
        for t in (sample.temperatures if sample else ())])


def _fans_piece(sample: SensorsSample | None) -> Fans:
    return Fans(fans=[FanReading(chip=fan.chip, sensor=fan.sensor, rpm=fan.rpm)
                      for fan in (sample.fans if sample else ())])


_METRICS = (
    MetricSpec("polyad.cpu.temperature", "cpu.temperature", "Cel",
               "CPU package temperature, where the host has a sensor for it",
               lambda sample: scalar(sample.cpu_package_celsius)),
    MetricSpec("hw.temperature", "temperatures[].celsius", "Cel", "Hardware sensor temperature",
               lambda sample: [((t.chip, t.sensor), t.celsius) for t in sample.temperatures],
               labels=("chip", "sensor")),
    MetricSpec("hw.fan.speed", "fans[].rpm", "rpm", "Fan speed",
               lambda sample: [((fan.chip, fan.sensor), fan.rpm) for fan in sample.fans],
               labels=("chip", "sensor")),
)


def _build(_: CollectorConfig, host: HostConfig) -> SensorsCollector:
    sensors = SysfsSensors(host.sysfs)
    return SensorsCollector(sensors.temperatures, sensors.fans)


SPEC = CollectorSpec(
    name="sensors", config=CollectorConfig, build=_build, metrics=_METRICS,
    pieces=(JsonPiece("cpu", CpuTemperature, _cpu_piece),
            JsonPiece(None, Temperatures, _temperatures_piece),
            JsonPiece(None, Fans, _fans_piece)),
    component="temperature", monitored=("cpu.temperature",))
