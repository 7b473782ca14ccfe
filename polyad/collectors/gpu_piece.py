"""The GPU collector's piece of `GET /metrics`: `gpu` with one entry per device.

Health values are flat numbers per device (`ecc_uncorrected_volatile`, `remapped_rows_pending`,
`xid_errors_total` …) so that alert rules can name each one; null where the device does not
report it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from polyad.collectors.base import PieceModel
from polyad.units import format_bytes

if TYPE_CHECKING:
    from polyad.collectors.gpu import GpuDevice, GpuSample
    from polyad.collectors.gpu_processes import GpuProcess

__all__ = ["GpuDeviceMetrics", "GpuMetrics", "GpuProcessMetrics", "piece"]


class GpuProcessMetrics(PieceModel):
    name: str = Field(description='Process name; "other": the rest summed; "unknown": unreadable')
    cgroup: str | None = Field(description="The cgroup its processes share; null if they differ")
    memory_used_bytes: int | None
    memory_used: str | None = Field(description='Human size, e.g. "6GB"')
    usage: float | None = Field(description="SM utilization since the last sample, percent")


class GpuDeviceMetrics(PieceModel):
    index: int
    uuid: str
    name: str
    success: bool = Field(description="False when the device failed to answer (e.g. GPU lost)")
    error: str | None
    usage: float | None
    temperature: float | None
    memory_usage: float | None
    memory_used: str | None
    memory_used_bytes: int | None
    memory_total_bytes: int | None
    power_watts: float | None
    energy_joules: float | None = Field(description="Energy used since the driver loaded")
    fan_speed: float | None
    sm_clock_mhz: float | None
    memory_clock_mhz: float | None
    throttle_reasons: list[str] | None = Field(
        description="What holds the clocks down now (sw_power_cap, hw_thermal_slowdown …)")
    ecc_corrected_volatile: int | None = Field(description="Since the driver loaded")
    ecc_uncorrected_volatile: int | None
    ecc_corrected_aggregate: int | None = Field(description="Over the board's life")
    ecc_uncorrected_aggregate: int | None
    retired_pages_corrected: int | None = Field(
        description="Pages retired after repeated single-bit errors (before Ampere)")
    retired_pages_uncorrected: int | None = Field(
        description="Pages retired after a double-bit error (before Ampere)")
    retired_pages_pending: bool | None = Field(description="A retirement awaits a driver load")
    remapped_rows_corrected: int | None = Field(description="Ampere on")
    remapped_rows_uncorrected: int | None
    remapped_rows_pending: bool | None = Field(description="A remap awaits a GPU reset")
    remapped_rows_failure: bool | None = Field(description="A remap failed: service the GPU")
    pcie_replays: int | None = Field(description="PCIe replays since the driver loaded")
    xid_errors: dict[str, int] | None = Field(
        description="XID errors by code since the agent started; null where not reported")
    xid_errors_total: int | None
    processes: list[GpuProcessMetrics] | None = Field(
        description="Use by process name, most memory first; null where not reported")


class GpuMetrics(PieceModel):
    usage: float | None = Field(description="Mean utilization of all GPUs; null without a GPU")
    temperature: float | None = Field(description="Hottest GPU, °C; null without a GPU")
    count: int
    driver_version: str | None
    devices: list[GpuDeviceMetrics]


def _human(size_bytes: int | None) -> str | None:
    return format_bytes(size_bytes) if size_bytes is not None else None


def _process_piece(process: GpuProcess) -> GpuProcessMetrics:
    return GpuProcessMetrics(name=process.name, cgroup=process.cgroup,
                             memory_used_bytes=process.memory_used_bytes,
                             memory_used=_human(process.memory_used_bytes),
                             usage=process.usage_percent)


def _device_piece(device: GpuDevice) -> GpuDeviceMetrics:
    ecc, pages, rows = device.ecc, device.retired_pages, device.remapped_rows
    return GpuDeviceMetrics(
        index=device.index, uuid=device.uuid, name=device.name, success=device.success,
        error=device.error, usage=device.utilization_percent,
        temperature=device.temperature_celsius, memory_usage=device.memory_percent,
        memory_used=_human(device.memory_used_bytes), memory_used_bytes=device.memory_used_bytes,
        memory_total_bytes=device.memory_total_bytes, power_watts=device.power_watts,
        energy_joules=device.energy_joules, fan_speed=device.fan_percent,
        sm_clock_mhz=device.sm_clock_mhz, memory_clock_mhz=device.memory_clock_mhz,
        throttle_reasons=(list(device.throttle_reasons) if device.throttle_reasons is not None
                          else None),
        ecc_corrected_volatile=ecc.corrected_volatile if ecc else None,
        ecc_uncorrected_volatile=ecc.uncorrected_volatile if ecc else None,
        ecc_corrected_aggregate=ecc.corrected_aggregate if ecc else None,
        ecc_uncorrected_aggregate=ecc.uncorrected_aggregate if ecc else None,
        retired_pages_corrected=pages.corrected if pages else None,
        retired_pages_uncorrected=pages.uncorrected if pages else None,
        retired_pages_pending=pages.pending if pages else None,
        remapped_rows_corrected=rows.corrected if rows else None,
        remapped_rows_uncorrected=rows.uncorrected if rows else None,
        remapped_rows_pending=rows.pending if rows else None,
        remapped_rows_failure=rows.failure if rows else None,
        pcie_replays=device.pcie_replays,
        xid_errors=({str(xid): count for xid, count in device.xid_errors}
                    if device.xid_errors is not None else None),
        xid_errors_total=device.xid_errors_total,
        processes=([_process_piece(process) for process in device.processes]
                   if device.processes is not None else None))


def piece(sample: GpuSample | None) -> GpuMetrics:
    devices = sample.devices if sample else ()
    return GpuMetrics(usage=sample.mean_utilization_percent if sample else None,
                      temperature=sample.hottest_celsius if sample else None,
                      count=len(devices), driver_version=sample.driver_version if sample else None,
                      devices=[_device_piece(device) for device in devices])
