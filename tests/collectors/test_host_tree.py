"""Every collector on a made-up host's procfs and sysfs (tests/fixtures/host, written by
tests/fixtures/make_host.py): `host.procfs` and `host.sysfs` are where collectors read."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path
from typing import Any

import pytest

from polyad.collectors import (
    Collector,
    CpuSample,
    MemorySample,
    NetworkSample,
    SensorsSample,
    build_collectors,
)
from polyad.collectors.netdev import read_counters_of_host
from polyad.collectors.system import Pressure, SystemCollector, SystemSample
from polyad.config import load_config
from tests.fixtures import make_host

GIB = 1024**3


@pytest.fixture
def on_fixture_host(fixture_host: dict[str, str]) -> dict[str, Collector[Any]]:
    config = load_config(environ={}, overrides={
        "host": fixture_host, "collectors": {"gpu": {"enabled": False}}})
    return {collector.name: collector
            for collector in build_collectors(config.collectors, config.host)}


def test_the_fixture_tree_is_what_its_script_writes(tmp_path: Path) -> None:
    make_host.write(tmp_path)
    comparison = filecmp.dircmp(tmp_path, make_host.ROOT)

    def differences(compared: filecmp.dircmp[str]) -> list[str]:
        found = [*compared.left_only, *compared.right_only, *compared.diff_files,
                 *compared.funny_files]
        return found + [name for sub in compared.subdirs.values() for name in differences(sub)]

    assert differences(comparison) == [], "run `make fixtures` and review the diff"


def test_cpu_reads_the_host_procfs(on_fixture_host: dict[str, Collector[Any]]) -> None:
    sample = on_fixture_host["cpu"].collect()
    assert isinstance(sample, CpuSample)
    assert sample.load_average == (0.52, 0.61, 0.7)
    assert len(sample.core_usage_percent) == 4  # the fixture's four CPUs, not this machine's


def test_memory_reads_the_host_procfs(on_fixture_host: dict[str, Collector[Any]]) -> None:
    sample = on_fixture_host["memory"].collect()
    assert isinstance(sample, MemorySample)
    assert (sample.total_bytes, sample.available_bytes, sample.used_bytes) == (
        8 * GIB, 5 * GIB, 3 * GIB)
    assert (sample.swap_total_bytes, sample.swap_used_bytes) == (2 * GIB, GIB // 2)


def test_network_reads_the_host_procfs_and_sysfs(
        on_fixture_host: dict[str, Collector[Any]]) -> None:
    sample = on_fixture_host["network"].collect()
    assert isinstance(sample, NetworkSample)
    nics = {nic.name: nic for nic in sample.interfaces}
    assert sorted(nics) == ["docker0", "eth0", "lo"]  # veth* left out by default
    eth0, docker0, lo = nics["eth0"], nics["docker0"], nics["lo"]
    assert (eth0.bytes_recv, eth0.bytes_sent, eth0.errors_in, eth0.drops_in) == (
        9_000_000_000, 1_500_000_000, 3, 7)
    assert (eth0.speed_bps, eth0.is_up, eth0.is_physical) == (1_000_000_000, True, True)
    assert (docker0.speed_bps, docker0.is_physical) == (None, False)
    assert (lo.is_loopback, lo.is_up) == (True, True)


def test_sensors_read_the_host_sysfs(on_fixture_host: dict[str, Collector[Any]]) -> None:
    sample = on_fixture_host["sensors"].collect()
    assert isinstance(sample, SensorsSample)
    assert sample.cpu_package_celsius == 54.0
    readings = {(t.chip, t.sensor): (t.celsius, t.high_celsius, t.critical_celsius)
                for t in sample.temperatures}
    assert readings == {("coretemp", "Package id 0"): (54.0, 80.0, 100.0),
                        ("coretemp", "Core 0"): (52.0, 80.0, 100.0),
                        ("coretemp", "Core 1"): (55.0, 80.0, 100.0),
                        ("nvme", "Composite"): (38.85, 84.85, 84.85)}


def test_in_a_container_with_the_host_mounted_the_hosts_interfaces_are_reported(
        on_fixture_host: dict[str, Collector[Any]]) -> None:
    # the fixture's `net/dev` (the reader's own namespace, a container's) has lo and eth0 with
    # small counters; PID 1's is the host's, with docker0 and eth0's 9 GB
    sample = on_fixture_host["network"].collect()
    assert isinstance(sample, NetworkSample)
    nics = {nic.name: nic.bytes_recv for nic in sample.interfaces}
    assert nics == {"docker0": 400_000_000, "eth0": 9_000_000_000, "lo": 5_000_000}


def test_a_procfs_that_hides_pid_1_gives_the_readers_own_interfaces(tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    shutil.copy(make_host.ROOT / "proc" / "net" / "dev", tmp_path / "net" / "dev")
    assert sorted(read_counters_of_host(tmp_path)) == ["eth0", "lo"]


def test_system_reads_the_host_procfs(on_fixture_host: dict[str, Collector[Any]]) -> None:
    sample = on_fixture_host["system"].collect()
    assert isinstance(sample, SystemSample)
    assert (sample.uptime_s, sample.boot_time_s, sample.interrupts) == (
        363845.25, 1_700_000_000, 98_765_432)
    assert (sample.processes_running, sample.file_descriptors) == (2, 4128)
    assert sample.pressure["cpu"] == Pressure(2.5, 123.456789, None, None)  # no `full` line
    assert sample.pressure["io"].full_avg10 == 3.25


def test_a_kernel_without_pressure_stall_gives_none_of_it(tmp_path: Path) -> None:
    procfs = tmp_path / "proc"
    shutil.copytree(make_host.ROOT / "proc", procfs)
    shutil.rmtree(procfs / "pressure")
    (procfs / "sys" / "fs" / "file-nr").unlink()
    sample = SystemCollector(procfs).collect()
    assert (sample.pressure, sample.file_descriptors) == ({}, None)


def test_fans_read_the_host_sysfs(on_fixture_host: dict[str, Collector[Any]]) -> None:
    sample = on_fixture_host["sensors"].collect()
    assert isinstance(sample, SensorsSample)
    assert [(fan.chip, fan.sensor, fan.rpm) for fan in sample.fans] == [
        ("nct6775", "CPU Fan", 1250.0), ("nct6775", "fan2", 0.0)]  # a stopped fan is 0, not gone
