"""Builders for a full Snapshot with known values: two cores, one GPU, sensors, two NICs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from polyad.collectors import (
    CpuSample,
    GpuDevice,
    GpuSample,
    Interface,
    MemorySample,
    NetworkSample,
    SensorsSample,
    Temperature,
)
from polyad.collectors.disk import DiskCounters, DiskDevice, DiskSample
from polyad.collectors.filesystem import FilesystemSample, MountUsage, Space
from polyad.collectors.gpu_health import EccErrors, RemappedRows, RetiredPages
from polyad.collectors.gpu_processes import GpuProcess
from polyad.collectors.mounts import Mount
from polyad.collectors.sensors import Fan
from polyad.collectors.system import Pressure, SystemSample
from polyad.snapshot import CollectorReport, Snapshot

GIB = 1024**3
STARTED_AT = datetime(2024, 3, 21, 6, 20, tzinfo=UTC)


def gpu_device(index: int = 0, **overrides: Any) -> GpuDevice:
    device = GpuDevice(
        index=index, uuid=f"GPU-{index:08d}", name="NVIDIA H100", utilization_percent=20.0,
        memory_used_bytes=8 * GIB, memory_total_bytes=80 * GIB, temperature_celsius=65.0,
        power_watts=250.0, fan_percent=30.0, sm_clock_mhz=1980.0, memory_clock_mhz=2619.0,
        energy_joules=123456.789, throttle_reasons=("sw_power_cap",),
        ecc=EccErrors(corrected_volatile=2, uncorrected_volatile=0, corrected_aggregate=10,
                      uncorrected_aggregate=1),
        retired_pages=RetiredPages(corrected=1, uncorrected=0, pending=False),
        remapped_rows=RemappedRows(corrected=1, uncorrected=0, pending=False, failure=False),
        pcie_replays=3, xid_errors=((79, 1),),
        processes=(GpuProcess("python3", "/system.slice/train.service", 6 * GIB, 40.0),),
    )
    return replace(device, **overrides)


def interface(name: str, upload_bps: float | None, download_bps: float | None,
              *, loopback: bool = False) -> Interface:
    return Interface(name=name, bytes_sent=1000, bytes_recv=2000, packets_sent=10,
                     packets_recv=20, errors_in=1, errors_out=2, drops_in=3, drops_out=4,
                     upload_bps=upload_bps, download_bps=download_bps,
                     speed_bps=1_000_000_000 if not loopback else None, is_up=True,
                     is_loopback=loopback, is_physical=not loopback)


def full_snapshot(seq: int = 1, *, gpus: tuple[GpuDevice, ...] | None = None) -> Snapshot:
    reports = {name: CollectorReport(name, "ok", 0.001)
               for name in ("cpu", "memory", "gpu", "network", "disk", "filesystem", "sensors",
                            "system")}
    samples = {
        "cpu": CpuSample(usage_percent=35.0, core_usage_percent=(30.0, 40.0),
                         load_average=(0.5, 0.25, 0.125),
                         seconds_by_mode=((("user", 120.5), ("idle", 900.0)),
                                          (("user", 130.25), ("idle", 880.0)))),
        "memory": MemorySample(total_bytes=16 * GIB, available_bytes=8 * GIB,
                               used_bytes=8 * GIB, usage_percent=50.0,
                               swap_total_bytes=2 * GIB, swap_used_bytes=0),
        "gpu": GpuSample(nvml_available=True, driver_version="560.35.03",
                         devices=gpus if gpus is not None else (gpu_device(0),)),
        "network": NetworkSample(
            interfaces=(interface("eth0", 1_000_000.0, 10_000_000.0),
                        interface("lo", 5_000.0, 5_000.0, loopback=True)),
            upload_bps=1_000_000.0, download_bps=10_000_000.0),
        "disk": DiskSample(devices=(
            DiskDevice("nvme0n1", DiskCounters(reads=1000, read_bytes=4 * GIB, read_time_s=2.5,
                                               writes=2000, write_bytes=8 * GIB,
                                               write_time_s=7.5, io_time_s=6.0),
                       read_bytes_per_second=1_048_576.0, write_bytes_per_second=524_288.0,
                       reads_per_second=64.0, writes_per_second=32.0, utilization_percent=12.5),
        )),
        "filesystem": FilesystemSample(mounts=(
            MountUsage(Mount("/dev/nvme0n1p1", "/", "ext4", read_only=False),
                       Space(size_bytes=100 * GIB, free_bytes=40 * GIB,
                             available_bytes=35 * GIB, inodes_total=6_553_600,
                             inodes_free=5_000_000)),
            MountUsage(Mount("/dev/sdb1", "/mnt/backup", "ext4", read_only=True),
                       Space(size_bytes=1000 * GIB, free_bytes=GIB, available_bytes=0,
                             inodes_total=61_000_000, inodes_free=60_990_000)),
            MountUsage(Mount("nas:/export", "/srv/share", "nfs4", read_only=False), None,
                       stale=True),
        )),
        "system": SystemSample(
            uptime_s=5400.0, boot_time_s=1_700_000_000, context_switches=1000, interrupts=2000,
            processes_running=2, processes_blocked=1, file_descriptors=4128,
            file_descriptor_limit=1_048_576,
            pressure={"cpu": Pressure(2.5, 12.0, 1.0, 3.0), "memory": Pressure(0.5, 1.0, 0.25, 0.5),
                      "io": Pressure(5.0, 30.0, 3.25, 20.0)}),
        "sensors": SensorsSample(
            temperatures=(Temperature("coretemp", "Package id 0", 55.0, 80.0, 100.0),
                          Temperature("coretemp", "Core 0", 53.0, 80.0, 100.0)),
            cpu_package_celsius=55.0, fans=(Fan("nct6775", "CPU Fan", 1250.0),)),
    }
    return Snapshot(seq=seq, taken_at=STARTED_AT + timedelta(hours=1, minutes=30),
                    monotonic_s=100.0, started_at=STARTED_AT, reports=reports,
                    samples=samples)


def with_sample(snapshot: Snapshot, collector: str, sample: object) -> Snapshot:
    """The snapshot with that collector's sample replaced."""
    return replace(snapshot, samples={**snapshot.samples, collector: sample})
