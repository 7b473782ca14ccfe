from __future__ import annotations

from collections import namedtuple
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from polyad.collectors.sensors import Channel, SensorsCollector, SysfsSensors, read_sysfs
from tests.fakes.clock import FakeClock

Reading = namedtuple("Reading", "label current high critical")


def collector(readings: Mapping[str, Sequence[Any]]) -> SensorsCollector:
    return SensorsCollector(read_temperatures=lambda: readings)


def test_intel_package_temperature_is_the_hottest_package() -> None:
    sample = collector({
        "coretemp": [Reading("Package id 0", 51.0, 80.0, 100.0),
                     Reading("Core 0", 60.0, 80.0, 100.0),
                     Reading("Package id 1", 57.0, 80.0, 100.0)],
        "acpitz": [Reading("", 27.8, None, None)],
    }).collect()
    assert sample.cpu_package_celsius == 57.0
    assert [(t.chip, t.sensor) for t in sample.temperatures] == [
        ("acpitz", "acpitz0"), ("coretemp", "Package id 0"), ("coretemp", "Core 0"),
        ("coretemp", "Package id 1")]


@pytest.mark.parametrize(("chip", "label"), [("k10temp", "Tdie"), ("k10temp", "Tctl"),
                                             ("cpu_thermal", "")])
def test_amd_and_soc_package_sensors(chip: str, label: str) -> None:
    sample = collector({chip: [Reading(label, 48.5, 0.0, -1.0)]}).collect()
    assert sample.cpu_package_celsius == 48.5
    # drivers use 0 or negatives for "no threshold"
    assert sample.temperatures[0].high_celsius is None
    assert sample.temperatures[0].critical_celsius is None


def test_repeated_labels_of_one_driver_are_told_apart() -> None:
    sample = collector({
        "coretemp": [Reading("Package id 0", 50.0, None, None),
                     Reading("Core 0", 49.0, None, None),
                     Reading("Package id 1", 52.0, None, None),
                     Reading("Core 0", 51.0, None, None)],
        "nvme": [Reading("Composite", 38.0, None, None),
                 Reading("Composite", 41.0, None, None)],
    }).collect()
    names = [(t.chip, t.sensor, t.celsius) for t in sample.temperatures]
    assert names == [("coretemp", "Package id 0", 50.0), ("coretemp", "Core 0", 49.0),
                     ("coretemp", "Package id 1", 52.0), ("coretemp", "Core 0 #2", 51.0),
                     ("nvme", "Composite", 38.0), ("nvme", "Composite #2", 41.0)]
    assert len({(t.chip, t.sensor) for t in sample.temperatures}) == 6


def test_sensors_without_a_cpu_package_give_null_package_temperature() -> None:
    sample = collector({"nvme": [Reading("Composite", 38.0, 84.0, 89.0)]}).collect()
    assert sample.cpu_package_celsius is None
    assert sample.temperatures[0].high_celsius == 84.0


def test_no_sensors_is_no_data_logged_once_at_debug() -> None:
    empty = collector({})
    with capture_logs() as logs:
        for _ in range(3):
            sample = empty.collect()
    assert sample.temperatures == () and sample.cpu_package_celsius is None
    assert empty.no_data == "no temperature sensors on this host"
    assert [(log["log_level"], log["event"]) for log in logs] == [
        ("debug", "collector has no data")]


def test_on_this_host_it_never_raises() -> None:
    sample = SensorsCollector(lambda: read_sysfs(Path("/sys"))).collect()
    assert all(isinstance(t.celsius, float) for t in sample.temperatures)


def write_files(root: Path, files: dict[str, str]) -> Path:
    for relative, content in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(content)
    return root


def test_sysfs_channels_under_device_and_unreadable_ones_skipped(tmp_path: Path) -> None:
    sysfs = write_files(tmp_path, {
        "class/hwmon/hwmon10/name": "k10temp\n",
        "class/hwmon/hwmon10/temp1_input": "61250\n",
        "class/hwmon/hwmon10/temp1_label": "Tctl\n",
        "class/hwmon/hwmon2/device/name": "acpitz\n",
        "class/hwmon/hwmon2/device/temp1_input": "27800\n",
        "class/hwmon/hwmon2/device/temp2_input": "not a number\n",
        "class/hwmon/hwmon3/name": "empty\n",
    })
    assert read_sysfs(sysfs) == {"acpitz": [Channel("", 27.8, None, None)],
                                 "k10temp": [Channel("Tctl", 61.25, None, None)]}
    sample = SensorsCollector(lambda: read_sysfs(sysfs)).collect()
    assert sample.cpu_package_celsius == 61.25


def test_thermal_zones_stand_in_where_no_hwmon_chip_has_a_temperature(tmp_path: Path) -> None:
    sysfs = write_files(tmp_path, {
        "class/hwmon/hwmon0/name": "fan_only\n",
        "class/thermal/thermal_zone0/type": "cpu-thermal\n",
        "class/thermal/thermal_zone0/temp": "47234\n",
        "class/thermal/thermal_zone1/type": "gpu-thermal\n",
    })
    assert read_sysfs(sysfs) == {"cpu-thermal": [Channel("", 47.234, None, None)]}


def test_no_sysfs_at_all_is_no_sensors(tmp_path: Path) -> None:
    assert read_sysfs(tmp_path / "absent") == {}


def test_the_collector_s_reader_reads_values_each_tick_and_the_layout_each_minute(
        tmp_path: Path) -> None:
    sysfs = write_files(tmp_path, {
        "class/hwmon/hwmon0/name": "coretemp\n",
        "class/hwmon/hwmon0/temp1_input": "50000\n",
        "class/hwmon/hwmon0/temp1_label": "Package id 0\n",
        "class/hwmon/hwmon0/temp1_max": "80000\n",
        "class/hwmon/hwmon0/fan1_input": "1200\n",
    })
    clock = FakeClock()
    sensors = SysfsSensors(sysfs, rescan_s=60.0, clock=clock)
    assert sensors.temperatures() == {"coretemp": [Channel("Package id 0", 50.0, 80.0, None)]}

    write_files(tmp_path, {"class/hwmon/hwmon0/temp1_input": "51000\n",   # a value: now
                           "class/hwmon/hwmon0/temp1_max": "90000\n",     # a threshold: later
                           "class/hwmon/hwmon1/name": "nvme\n",           # a new chip: later
                           "class/hwmon/hwmon1/temp1_input": "38000\n"})
    assert sensors.temperatures() == {"coretemp": [Channel("Package id 0", 51.0, 80.0, None)]}
    assert sensors.fans() == {"coretemp": [("fan1", 1200.0)]}

    clock.advance(60.0)
    assert sensors.temperatures() == {"coretemp": [Channel("Package id 0", 51.0, 90.0, None)],
                                      "nvme": [Channel("", 38.0, None, None)]}
