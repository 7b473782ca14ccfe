"""NVIDIA GPUs through NVML (the `nvidia-ml-py` binding, imported as `pynvml`).

The binding is passed in at construction so tests hand in a fake with the same functions and
error classes; production imports the real one. No driver or no device is "no data", not an error.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import Field

from polyad.collectors.base import (
    PERCENT,
    CollectorSpec,
    JsonPiece,
    MetricSpec,
    NoDataLog,
    PieceModel,
    Reading,
    scalar,
)
from polyad.config import CollectorConfig, HostConfig
from polyad.units import format_bytes

__all__ = ["SPEC", "GpuCollector", "GpuDevice", "GpuSample", "NvmlStartError"]

T = TypeVar("T")

# Init failures that mean "this host has no usable NVIDIA stack".
_ABSENT_ERRORS = ("NVMLError_LibraryNotFound", "NVMLError_DriverNotLoaded",
                  "NVMLError_NoPermission", "NVMLError_FunctionNotFound")
# Per-call failures that mean "this device does not report that value".
_UNREPORTED_ERRORS = ("NVMLError_NotSupported", "NVMLError_NoPermission", "NVMLError_NotFound",
                      "NVMLError_FunctionNotFound")


@dataclass(frozen=True, slots=True)
class GpuDevice:
    index: int
    uuid: str
    name: str
    utilization_percent: float | None
    memory_used_bytes: int | None
    memory_total_bytes: int | None
    temperature_celsius: float | None
    power_watts: float | None
    fan_percent: float | None
    sm_clock_mhz: float | None
    memory_clock_mhz: float | None
    error: str | None = None      # the device failed to answer this tick (e.g. GPU lost)

    @property
    def success(self) -> bool:
        return self.error is None

    @property
    def memory_percent(self) -> float | None:
        if self.memory_used_bytes is None or not self.memory_total_bytes:
            return None
        return round(100.0 * self.memory_used_bytes / self.memory_total_bytes, 1)


@dataclass(frozen=True, slots=True)
class GpuSample:
    nvml_available: bool
    driver_version: str | None
    devices: tuple[GpuDevice, ...]

    @property
    def mean_utilization_percent(self) -> float | None:
        known = [d.utilization_percent for d in self.devices if d.utilization_percent is not None]
        return round(sum(known) / len(known), 1) if known else None

    @property
    def hottest_celsius(self) -> float | None:
        known = [d.temperature_celsius for d in self.devices if d.temperature_celsius is not None]
        return max(known) if known else None


def _text(value: str | bytes) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _error_classes(nvml: Any, names: tuple[str, ...]) -> tuple[type[BaseException], ...]:
    return tuple(getattr(nvml, name) for name in names if hasattr(nvml, name))


@dataclass(frozen=True, slots=True)
class _Unreachable:
    """Stands in for the handle of a device NVML could not open."""

    error: str


class NvmlStartError(RuntimeError):
    """NVML is there but would not start or list its devices; retried every `retry_s`."""


class GpuCollector:
    name = "gpu"
    no_data: str | None = None

    def __init__(self, nvml: Any | None = None, *, retry_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._nvml = nvml
        self._retry_s = retry_s
        self._clock = clock
        self._next_start_s = float("-inf")
        self._start_error: str | None = None
        self._available = False
        self._closed = False
        self._driver_version: str | None = None
        self._handles: tuple[tuple[int, Any, str, str], ...] = ()
        self._no_data = NoDataLog(self.name)

    def collect(self) -> GpuSample:
        # Started here, in the sampler's worker thread, so a slow init is time-boxed; a driver
        # that loads after the agent (a boot-order race) is picked up at the next retry.
        if not self._available and self._clock() >= self._next_start_s:
            self._start()
        if self._start_error is not None:
            raise NvmlStartError(self._start_error)
        return GpuSample(
            nvml_available=self._available,
            driver_version=self._driver_version,
            devices=tuple(self._device(*entry) for entry in self._handles),
        )

    def close(self) -> None:
        self._closed = True
        if self._available:
            self._available = False
            self._binding().nvmlShutdown()

    def _binding(self) -> Any:
        if self._nvml is None:
            self._nvml = importlib.import_module("pynvml")
        return self._nvml

    def _start(self) -> None:
        nvml = self._binding()
        self._next_start_s = self._clock() + self._retry_s
        try:
            nvml.nvmlInit()
        except _error_classes(nvml, _ABSENT_ERRORS) as error:
            self._start_error, self.no_data = None, f"NVML unavailable: {error}"
            self._no_data.once(self.no_data)
            return
        except nvml.NVMLError as error:
            self._start_error = f"NVML failed to initialise: {error}"
            return
        try:
            self._discover(nvml)
        except nvml.NVMLError as error:
            self._start_error = f"NVML failed to list its devices: {error}"
            nvml.nvmlShutdown()
            return
        self._available, self._start_error = True, None
        if self._closed:  # closed while this start was under way: leave NVML as found
            self.close()
            return
        self.no_data = None if self._handles else "NVML reports no GPU devices"
        if self.no_data:
            self._no_data.once(self.no_data)

    def _discover(self, nvml: Any) -> None:
        self._driver_version = _text(nvml.nvmlSystemGetDriverVersion())
        self._handles = tuple(self._identify(nvml, index)
                              for index in range(nvml.nvmlDeviceGetCount()))

    @staticmethod
    def _identify(nvml: Any, index: int) -> tuple[int, Any, str, str]:
        """(index, handle, uuid, name); a device that cannot say who it is (lost at boot) keeps
        its place with no handle, and reports its error every tick."""
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            return (index, handle, _text(nvml.nvmlDeviceGetUUID(handle)),
                    _text(nvml.nvmlDeviceGetName(handle)))
        except nvml.NVMLError as error:
            return (index, _Unreachable(f"{type(error).__name__}: {error}"), f"unknown-{index}",
                    "unknown")

    def _optional(self, index: int, field: str, read: Callable[[], T]) -> T | None:
        try:
            return read()
        except _error_classes(self._binding(), _UNREPORTED_ERRORS) as error:
            self._no_data.once(f"gpu {index} does not report {field}: {error}")
            return None

    def _device(self, index: int, handle: Any, uuid: str, name: str) -> GpuDevice:
        # One lost or failing GPU must not hide the healthy ones: it reports its error instead.
        if isinstance(handle, _Unreachable):
            return GpuDevice(index, uuid, name, *(None,) * 8, error=handle.error)
        try:
            return self._read_device(index, handle, uuid, name)
        except self._binding().NVMLError as error:
            return GpuDevice(index, uuid, name, *(None,) * 8,
                             error=f"{type(error).__name__}: {error}")

    def _read_device(self, index: int, handle: Any, uuid: str, name: str) -> GpuDevice:
        nvml = self._binding()

        def optional(field: str, read: Callable[[], T]) -> T | None:
            return self._optional(index, field, read)

        memory = optional("memory", lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
        utilization = optional("utilization", lambda: nvml.nvmlDeviceGetUtilizationRates(handle))
        power_mw = optional("power", lambda: nvml.nvmlDeviceGetPowerUsage(handle))
        return GpuDevice(
            index=index,
            uuid=uuid,
            name=name,
            utilization_percent=float(utilization.gpu) if utilization is not None else None,
            memory_used_bytes=int(memory.used) if memory is not None else None,
            memory_total_bytes=int(memory.total) if memory is not None else None,
            temperature_celsius=optional("temperature", lambda: float(
                nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))),
            power_watts=power_mw / 1000.0 if power_mw is not None else None,
            fan_percent=optional("fan", lambda: float(nvml.nvmlDeviceGetFanSpeed(handle))),
            sm_clock_mhz=optional("sm clock", lambda: float(
                nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM))),
            memory_clock_mhz=optional("memory clock", lambda: float(
                nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_MEM))),
        )


# -- what it declares ----------------------------------------------------------------------
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
    fan_speed: float | None
    sm_clock_mhz: float | None
    memory_clock_mhz: float | None


class GpuMetrics(PieceModel):
    usage: float | None = Field(description="Mean utilization of all GPUs; null without a GPU")
    temperature: float | None = Field(description="Hottest GPU, °C; null without a GPU")
    count: int
    driver_version: str | None
    devices: list[GpuDeviceMetrics]


def _device_piece(device: GpuDevice) -> GpuDeviceMetrics:
    return GpuDeviceMetrics(
        index=device.index, uuid=device.uuid, name=device.name, success=device.success,
        error=device.error, usage=device.utilization_percent,
        temperature=device.temperature_celsius, memory_usage=device.memory_percent,
        memory_used=format_bytes(device.memory_used_bytes)
        if device.memory_used_bytes is not None else None,
        memory_used_bytes=device.memory_used_bytes,
        memory_total_bytes=device.memory_total_bytes, power_watts=device.power_watts,
        fan_speed=device.fan_percent, sm_clock_mhz=device.sm_clock_mhz,
        memory_clock_mhz=device.memory_clock_mhz)


def _piece(sample: GpuSample | None) -> GpuMetrics:
    devices = sample.devices if sample else ()
    return GpuMetrics(usage=sample.mean_utilization_percent if sample else None,
                      temperature=sample.hottest_celsius if sample else None,
                      count=len(devices), driver_version=sample.driver_version if sample else None,
                      devices=[_device_piece(device) for device in devices])


def _per_device(field: str) -> Callable[[GpuSample], list[Reading]]:
    def read(sample: GpuSample) -> list[Reading]:
        return [((str(d.index), d.uuid), getattr(d, field)) for d in sample.devices]
    return read


def _device_metric(otel_name: str, path: str, unit: str, description: str, field: str,
                   otel_scale: float = 1.0) -> MetricSpec:
    return MetricSpec(otel_name, f"gpu.devices[].{path}", unit, description, _per_device(field),
                      labels=("gpu", "uuid"), otel_scale=otel_scale)


MHZ = 1e6
_METRICS = (
    MetricSpec(None, "gpu.usage", "1", "Mean utilization of all GPUs",
               lambda sample: scalar(sample.mean_utilization_percent),
               promql=("avg without (gpu, uuid) (hw_gpu_utilization_ratio)", PERCENT)),
    MetricSpec(None, "gpu.temperature", "Cel", "Temperature of the hottest GPU",
               lambda sample: scalar(sample.hottest_celsius),
               promql=("max without (gpu, uuid) (polyad_gpu_temperature_celsius)", 1.0)),
    _device_metric("polyad.gpu.success", "success", "",
                   "1 when the GPU answered this tick, else 0", "success"),
    _device_metric("hw.gpu.utilization", "usage", "1", "Share of time a kernel ran on the GPU",
                   "utilization_percent", PERCENT),
    _device_metric("hw.gpu.memory.usage", "memory_used_bytes", "By", "GPU memory in use",
                   "memory_used_bytes"),
    _device_metric("hw.gpu.memory.limit", "memory_total_bytes", "By", "GPU memory installed",
                   "memory_total_bytes"),
    _device_metric("hw.gpu.memory.utilization", "memory_usage", "1",
                   "Share of GPU memory in use", "memory_percent", PERCENT),
    _device_metric("polyad.gpu.temperature", "temperature", "Cel", "GPU core temperature",
                   "temperature_celsius"),
    _device_metric("polyad.gpu.power", "power_watts", "W", "GPU power draw", "power_watts"),
    _device_metric("hw.fan.speed_ratio", "fan_speed", "1",
                   "GPU fan speed as a share of its maximum", "fan_percent", PERCENT),
    _device_metric("polyad.gpu.clock.sm", "sm_clock_mhz", "Hz",
                   "GPU streaming-multiprocessor clock", "sm_clock_mhz", MHZ),
    _device_metric("polyad.gpu.clock.memory", "memory_clock_mhz", "Hz", "GPU memory clock",
                   "memory_clock_mhz", MHZ),
)


def _lost_devices(sample: GpuSample) -> list[tuple[str, str]]:
    return [(f"gpu.{device.index}", device.error) for device in sample.devices
            if device.error is not None]


def _build(_: CollectorConfig, __: HostConfig) -> GpuCollector:
    return GpuCollector()  # NVML is the driver's, wherever the host's trees are mounted


SPEC = CollectorSpec(
    name="gpu", config=CollectorConfig, build=_build, metrics=_METRICS,
    pieces=(JsonPiece("gpu", GpuMetrics, _piece),),
    resource=lambda sample: sample.mean_utilization_percent,
    component="gpu", monitored=("gpu.usage", "gpu.temperature"), failures=_lost_devices)
