"""The disk collector on the made-up host's diskstats and sysfs, and its rates between two
samples on an injected clock."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from polyad.collectors.disk import (
    SECTOR_BYTES,
    DiskCollector,
    DiskConfig,
    DiskSample,
    read_diskstats,
)
from tests.fakes.clock import FakeClock
from tests.fixtures.make_host import ROOT

PROC, SYS = ROOT / "proc", ROOT / "sys"


def test_whole_disks_only_by_default() -> None:
    sample = DiskCollector(PROC, SYS, exclude=DiskConfig().exclude).collect()
    assert [device.name for device in sample.devices] == ["dm-0", "nvme0n1", "sda"]


def test_include_exclude_and_partitions_are_options() -> None:
    names = [device.name for device in
             DiskCollector(PROC, SYS, include=["nvme*", "sd*"], partitions=True)
             .collect().devices]
    assert names == ["nvme0n1", "nvme0n1p1", "sda", "sda1"]
    everything = DiskCollector(PROC, SYS, partitions=True).collect()
    assert {device.name for device in everything.devices} >= {"loop0", "sr0", "dm-0"}


def test_partitions_are_told_by_name_where_sysfs_has_no_block_class(tmp_path: Path) -> None:
    names = [device.name for device in DiskCollector(PROC, tmp_path).collect().devices]
    assert names == ["dm-0", "loop0", "nvme0n1", "sda", "sr0"]


def test_counters_are_in_bytes_and_seconds() -> None:
    counters = read_diskstats(PROC / "diskstats")
    nvme = counters["nvme0n1"]
    assert (nvme.reads, nvme.read_bytes, nvme.read_time_s) == (182000, 9100000 * SECTOR_BYTES,
                                                               51.0)
    assert (nvme.writes, nvme.write_bytes, nvme.write_time_s, nvme.io_time_s) == (
        364000, 27300000 * SECTOR_BYTES, 402.0, 190.0)
    assert counters["sr0"].io_time_s == 0   # an old kernel's shorter line still reads


def _with_diskstats(tmp_path: Path, lines: str) -> Path:
    procfs = tmp_path / "proc"
    procfs.mkdir(exist_ok=True)
    (procfs / "diskstats").write_text(lines)
    return procfs


def _line(reads: int, sectors_read: int, writes: int, sectors_written: int, io_ms: int) -> str:
    return f"8 0 sda {reads} 0 {sectors_read} 0 {writes} 0 {sectors_written} 0 0 {io_ms} 0\n"


def test_rates_come_from_two_samples(tmp_path: Path) -> None:
    clock = FakeClock()
    procfs = _with_diskstats(tmp_path, _line(100, 2000, 50, 4000, 1000))
    collector = DiskCollector(procfs, SYS, clock=clock)
    first = collector.collect().devices[0]
    assert (first.read_bytes_per_second, first.utilization_percent) == (None, None)

    clock.advance(2.0)
    _with_diskstats(tmp_path, _line(300, 6000, 60, 4400, 1500))
    sample: DiskSample = collector.collect()
    sda = sample.devices[0]
    assert sda.read_bytes_per_second == 4000 * SECTOR_BYTES / 2
    assert sda.write_bytes_per_second == 400 * SECTOR_BYTES / 2
    assert (sda.reads_per_second, sda.writes_per_second) == (100.0, 5.0)
    assert sda.utilization_percent == 25.0   # 0.5 s busy in 2 s
    assert sample.total("read_bytes_per_second") == 1_024_000.0


def test_a_counter_that_went_back_gives_no_rate(tmp_path: Path) -> None:
    clock = FakeClock()
    procfs = _with_diskstats(tmp_path, _line(100, 2000, 50, 4000, 1000))
    collector = DiskCollector(procfs, SYS, clock=clock)
    collector.collect()
    clock.advance(1.0)
    _with_diskstats(tmp_path, _line(5, 10, 1, 8, 2))   # the device was removed and re-added
    sda = collector.collect().devices[0]
    assert (sda.read_bytes_per_second, sda.utilization_percent) == (None, None)


def test_no_matching_device_is_no_data_not_a_failure() -> None:
    collector = DiskCollector(PROC, SYS, include=["xvd*"])
    assert collector.collect().devices == ()
    assert collector.no_data is not None


def test_a_host_without_diskstats_fails_the_collector(tmp_path: Path) -> None:
    procfs = tmp_path / "proc"
    shutil.copytree(PROC, procfs)
    (procfs / "diskstats").unlink()
    with pytest.raises(FileNotFoundError):
        DiskCollector(procfs, SYS).collect()
