"""Block devices' I/O from `{procfs}/diskstats`: bytes, operations and time since boot as
counters, and rates between two samples (bytes and operations per second, and the share of
time the device was busy, iostat's %util). Whole disks only by default: a partition's I/O is
also its disk's, and loop, RAM and optical devices are left out by name."""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from polyad.collectors.base import (
    PERCENT,
    CollectorSpec,
    JsonPiece,
    MetricSpec,
    PieceModel,
    Reading,
    read_file,
    scalar,
)
from polyad.config import CollectorConfig, HostConfig
from polyad.units import format_bytes

__all__ = ["SPEC", "DiskCollector", "DiskConfig", "DiskCounters", "DiskDevice", "DiskSample",
           "read_diskstats"]

SECTOR_BYTES = 512  # diskstats counts 512-byte sectors whatever the device's own sector size
# Where sysfs cannot say (no /sys/class/block): sda1, vdb2, xvda1, nvme0n1p1, mmcblk0p1.
_PARTITION_NAME = re.compile(r"(?:[hsv]d[a-z]+|xvd[a-z]+)\d+|(?:nvme\d+n\d+|mmcblk\d+)p\d+")


@dataclass(frozen=True, slots=True)
class DiskCounters:
    """One line of diskstats, in bytes and seconds."""

    reads: int
    read_bytes: int
    read_time_s: float
    writes: int
    write_bytes: int
    write_time_s: float
    io_time_s: float


@dataclass(frozen=True, slots=True)
class DiskDevice:
    name: str
    counters: DiskCounters
    # Per second since the previous sample; None on the first, or after a counter reset.
    read_bytes_per_second: float | None
    write_bytes_per_second: float | None
    reads_per_second: float | None
    writes_per_second: float | None
    utilization_percent: float | None   # share of the time with I/O in flight


@dataclass(frozen=True, slots=True)
class DiskSample:
    devices: tuple[DiskDevice, ...]

    def total(self, field: str) -> float | None:
        known = [value for device in self.devices
                 if (value := getattr(device, field)) is not None]
        return round(sum(known), 1) if known else None


def read_diskstats(path: Path) -> dict[str, DiskCounters]:
    """`major minor name reads merged sectors ms writes merged sectors ms in-flight io_ms …`
    (Documentation/admin-guide/iostats.rst); lines too short to hold those are skipped."""
    devices = {}
    for line in read_file(path).splitlines():
        fields = line.split()
        if len(fields) < 14:
            continue
        values = [int(field) for field in fields[3:14]]
        devices[fields[2]] = DiskCounters(
            reads=values[0], read_bytes=values[2] * SECTOR_BYTES, read_time_s=values[3] / 1000,
            writes=values[4], write_bytes=values[6] * SECTOR_BYTES,
            write_time_s=values[7] / 1000, io_time_s=values[9] / 1000)
    return devices


def _per_second(current: float, previous: float, elapsed_s: float) -> float | None:
    if elapsed_s <= 0 or current < previous:   # a reset (device re-added): no honest rate
        return None
    return (current - previous) / elapsed_s


class DiskCollector:
    name = "disk"
    no_data: str | None = None

    def __init__(self, procfs: Path = Path("/proc"), sysfs: Path = Path("/sys"), *,
                 include: Sequence[str] = (), exclude: Sequence[str] = (),
                 partitions: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        self._diskstats = procfs / "diskstats"
        self._sysfs_block = sysfs / "class" / "block"
        self._include, self._exclude = tuple(include), tuple(exclude)
        self._partitions = partitions
        self._clock = clock
        self._previous: Mapping[str, DiskCounters] = {}
        self._previous_at: float | None = None
        self._chosen: dict[str, bool] = {}   # device name → reported; decided once per name

    def collect(self) -> DiskSample:
        now = self._clock()
        counters = {name: found for name, found in read_diskstats(self._diskstats).items()
                    if self._reported(name)}
        elapsed_s = now - self._previous_at if self._previous_at is not None else 0.0
        devices = tuple(self._device(name, counters[name], elapsed_s) for name in sorted(counters))
        self._previous, self._previous_at = counters, now
        self.no_data = None if devices else "no block device matches the disk collector's filters"
        return DiskSample(devices)

    def _reported(self, name: str) -> bool:
        if name not in self._chosen:
            self._chosen[name] = self._matches(name) and (self._partitions
                                                          or not self._is_partition(name))
        return self._chosen[name]

    def _matches(self, name: str) -> bool:
        if self._include and not any(fnmatch.fnmatchcase(name, p) for p in self._include):
            return False
        return not any(fnmatch.fnmatchcase(name, pattern) for pattern in self._exclude)

    def _is_partition(self, name: str) -> bool:
        if self._sysfs_block.is_dir():
            return (self._sysfs_block / name / "partition").exists()
        return _PARTITION_NAME.fullmatch(name) is not None

    def _device(self, name: str, now: DiskCounters, elapsed_s: float) -> DiskDevice:
        before = self._previous.get(name)

        def rate(field: str) -> float | None:
            if before is None:
                return None
            found = _per_second(getattr(now, field), getattr(before, field), elapsed_s)
            return round(found, 1) if found is not None else None

        busy = (_per_second(now.io_time_s, before.io_time_s, elapsed_s)
                if before is not None else None)
        return DiskDevice(
            name=name, counters=now, read_bytes_per_second=rate("read_bytes"),
            write_bytes_per_second=rate("write_bytes"), reads_per_second=rate("reads"),
            writes_per_second=rate("writes"),
            utilization_percent=min(100.0, round(busy * 100, 1)) if busy is not None else None)

    def close(self) -> None:
        pass


# -- what it declares ----------------------------------------------------------------------
class DiskConfig(CollectorConfig):
    # fnmatch patterns of device names: `include` (empty: all) then `exclude`. The defaults
    # leave out loop devices, RAM disks, zram swap, floppies and optical drives.
    include: list[str] = Field(default_factory=list)
    """fnmatch patterns of device names to watch (empty: all)."""
    exclude: list[str] = Field(default_factory=lambda: ["loop*", "ram*", "zram*", "fd*", "sr*"])
    """fnmatch patterns of device names to leave out."""
    partitions: bool = False
    """Report partitions too, not only whole disks."""


class DiskDeviceMetrics(PieceModel):
    name: str
    read: str | None = Field(description='Human rate, e.g. "12.5MB/s"; null before two samples')
    read_bytes_per_second: float | None
    write: str | None
    write_bytes_per_second: float | None
    reads_per_second: float | None
    writes_per_second: float | None
    utilization: float | None = Field(description="Percent of the time with I/O in flight")
    read_bytes: int = Field(description="Since boot")
    write_bytes: int
    reads: int
    writes: int


class DiskMetrics(PieceModel):
    read: str | None = Field(description="All reported devices; null before two samples")
    read_bytes_per_second: float | None
    write: str | None
    write_bytes_per_second: float | None
    devices: list[DiskDeviceMetrics]


def _human(bytes_per_second: float | None) -> str | None:
    return f"{format_bytes(bytes_per_second)}/s" if bytes_per_second is not None else None


def _device_piece(device: DiskDevice) -> DiskDeviceMetrics:
    counters = device.counters
    return DiskDeviceMetrics(
        name=device.name, read=_human(device.read_bytes_per_second),
        read_bytes_per_second=device.read_bytes_per_second,
        write=_human(device.write_bytes_per_second),
        write_bytes_per_second=device.write_bytes_per_second,
        reads_per_second=device.reads_per_second, writes_per_second=device.writes_per_second,
        utilization=device.utilization_percent, read_bytes=counters.read_bytes,
        write_bytes=counters.write_bytes, reads=counters.reads, writes=counters.writes)


def _piece(sample: DiskSample | None) -> DiskMetrics:
    read = sample.total("read_bytes_per_second") if sample else None
    write = sample.total("write_bytes_per_second") if sample else None
    return DiskMetrics(read=_human(read), read_bytes_per_second=read, write=_human(write),
                       write_bytes_per_second=write,
                       devices=[_device_piece(device) for device in (sample.devices
                                                                     if sample else ())])


def _directions(read: str, write: str) -> Callable[[DiskSample], list[Reading]]:
    def readings(sample: DiskSample) -> list[Reading]:
        return [((device.name, direction), getattr(device.counters, field))
                for device in sample.devices
                for direction, field in (("read", read), ("write", write))]
    return readings


def _per_device(field: str) -> Callable[[DiskSample], list[Reading]]:
    def readings(sample: DiskSample) -> list[Reading]:
        return [((device.name,), getattr(device, field)) for device in sample.devices]
    return readings


_DEVICE = ("system.device",)
_DEVICE_DIRECTION = ("system.device", "disk.io.direction")
RATE_WINDOW = "2m"  # two scrapes at Prometheus' default interval, as for network rates


def _promql_rate(series: str, direction: str | None, factor: float = 1.0) -> tuple[str, float]:
    selector = f'{{disk_io_direction="{direction}"}}' if direction else ""
    return f"rate({series}{selector}[{RATE_WINDOW}])", factor


_METRICS = (
    MetricSpec(None, "disk.read_bytes_per_second", "By/s", "Bytes read per second, all devices",
               lambda sample: scalar(sample.total("read_bytes_per_second")),
               promql=(f"sum without (system_device, disk_io_direction) "
                       f"({_promql_rate('system_disk_io_bytes_total', 'read')[0]})", 1.0)),
    MetricSpec(None, "disk.write_bytes_per_second", "By/s",
               "Bytes written per second, all devices",
               lambda sample: scalar(sample.total("write_bytes_per_second")),
               promql=(f"sum without (system_device, disk_io_direction) "
                       f"({_promql_rate('system_disk_io_bytes_total', 'write')[0]})", 1.0)),
    MetricSpec(None, "disk.devices[].read_bytes_per_second", "By/s", "Bytes read per second",
               _per_device("read_bytes_per_second"), labels=_DEVICE,
               promql=_promql_rate("system_disk_io_bytes_total", "read")),
    MetricSpec(None, "disk.devices[].write_bytes_per_second", "By/s",
               "Bytes written per second", _per_device("write_bytes_per_second"),
               labels=_DEVICE, promql=_promql_rate("system_disk_io_bytes_total", "write")),
    MetricSpec(None, "disk.devices[].utilization", "1",
               "Percent of the time the device had I/O in flight",
               _per_device("utilization_percent"), labels=_DEVICE,
               promql=_promql_rate("system_disk_io_time_seconds_total", None, PERCENT)),
    MetricSpec("system.disk.io", None, "By", "Bytes read from and written to the device",
               _directions("read_bytes", "write_bytes"), labels=_DEVICE_DIRECTION,
               kind="counter"),
    MetricSpec("system.disk.operations", None, "{operation}", "Reads and writes completed",
               _directions("reads", "writes"), labels=_DEVICE_DIRECTION, kind="counter"),
    MetricSpec("system.disk.operation_time", None, "s",
               "Time spent in reads and writes, summed over operations in flight at once",
               _directions("read_time_s", "write_time_s"), labels=_DEVICE_DIRECTION,
               kind="counter"),
    MetricSpec("system.disk.io_time", None, "s", "Time the device had I/O in flight",
               lambda sample: [((device.name,), device.counters.io_time_s)
                               for device in sample.devices],
               labels=_DEVICE, kind="counter"),
)


def _build(config: DiskConfig, host: HostConfig) -> DiskCollector:
    return DiskCollector(host.procfs, host.sysfs, include=config.include,
                         exclude=config.exclude, partitions=config.partitions)


SPEC = CollectorSpec(
    name="disk", config=DiskConfig, build=_build, metrics=_METRICS,
    pieces=(JsonPiece("disk", DiskMetrics, _piece),),
    component="disk", monitored=("disk.read_bytes_per_second", "disk.write_bytes_per_second"))
