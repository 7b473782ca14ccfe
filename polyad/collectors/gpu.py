"""NVIDIA GPUs through NVML (the `nvidia-ml-py` binding, imported as `pynvml`): use, memory,
power and energy, clocks, fan, health (gpu_health.py, XID errors in gpu_events.py) and use by
process (gpu_processes.py). Its JSON piece is in gpu_piece.py, its catalog in gpu_metrics.py.

The binding is passed in at construction so tests hand in a fake with the same functions and
error classes; production imports the real one, once the library it loads is there: pynvml holds
2 MB of resident memory (ctypes types for the whole API) that a host without the driver never
uses. No driver or no device is "no data", not an error, and so is a value one GPU or driver
does not report: that field is null.
"""

from __future__ import annotations

import ctypes
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import Field

from polyad.collectors.base import CollectorSpec, JsonPiece, NoDataLog
from polyad.collectors.gpu_events import XidWatcher
from polyad.collectors.gpu_health import (
    EccErrors,
    RemappedRows,
    RetiredPages,
    ecc_errors,
    remapped_rows,
    retired_pages,
    throttle_reasons,
)
from polyad.collectors.gpu_metrics import METRICS
from polyad.collectors.gpu_piece import GpuMetrics, piece
from polyad.collectors.gpu_processes import GpuProcess, ProcessReader
from polyad.config import CollectorConfig, HostConfig

__all__ = ["SPEC", "GpuCollector", "GpuConfig", "GpuDevice", "GpuSample", "NvmlStartError"]

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
    energy_joules: float | None = None            # since the driver loaded
    throttle_reasons: tuple[str, ...] | None = None   # active now (gpu_health.THROTTLE_REASONS)
    ecc: EccErrors | None = None
    retired_pages: RetiredPages | None = None     # before Ampere
    remapped_rows: RemappedRows | None = None     # Ampere on
    pcie_replays: int | None = None               # since the driver loaded
    xid_errors: tuple[tuple[int, int], ...] | None = None  # (XID, count) since the agent started
    processes: tuple[GpuProcess, ...] | None = None        # by name, the top ones and `other`

    @property
    def success(self) -> bool:
        return self.error is None

    @property
    def memory_percent(self) -> float | None:
        if self.memory_used_bytes is None or not self.memory_total_bytes:
            return None
        return round(100.0 * self.memory_used_bytes / self.memory_total_bytes, 1)

    @property
    def xid_errors_total(self) -> int | None:
        return sum(count for _, count in self.xid_errors) if self.xid_errors is not None else None


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


# What the binding loads on Linux (pynvml's _LoadNvmlLibrary), and what it says without it.
NVML_LIBRARY = "libnvidia-ml.so.1"
_NO_LIBRARY = "NVML Shared Library Not Found"


def _library_loads(name: str) -> bool:
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


class NvmlStartError(RuntimeError):
    """NVML is there but would not start or list its devices; retried every `retry_s`."""


class GpuCollector:
    name = "gpu"
    no_data: str | None = None

    def __init__(self, nvml: Any | None = None, *, retry_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, top_processes: int = 5,
                 xid_wait_ms: int = 250, library: str = NVML_LIBRARY) -> None:
        self._nvml = nvml
        self._library = library
        self._retry_s = retry_s
        self._clock = clock
        self._top_processes = top_processes
        self._xid_wait_ms = xid_wait_ms
        self._xids: XidWatcher | None = None
        self._processes: ProcessReader | None = None
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
        devices = tuple(self._device(*entry) for entry in self._handles)
        if self._processes is not None:
            self._processes.end_tick()
        return GpuSample(nvml_available=self._available, driver_version=self._driver_version,
                         devices=devices)

    def close(self) -> None:
        self._closed = True
        if self._available:
            self._available = False
            if self._xids is not None:
                self._xids.stop()  # before shutdown: its thread waits inside NVML
            self._binding().nvmlShutdown()

    def _binding(self) -> Any:
        if self._nvml is None:
            self._nvml = importlib.import_module("pynvml")
        return self._nvml

    def _start(self) -> None:
        self._next_start_s = self._clock() + self._retry_s
        if self._nvml is None and not _library_loads(self._library):
            self._start_error, self.no_data = None, f"NVML unavailable: {_NO_LIBRARY}"
            self._no_data.once(self.no_data)
            return
        nvml = self._binding()
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
        self._xids = XidWatcher(nvml, self._no_data, wait_ms=self._xid_wait_ms)
        self._xids.start((index, handle) for index, handle, _, _ in self._handles
                         if not isinstance(handle, _Unreachable))
        self._processes = ProcessReader(nvml, self._no_data, self._top_processes)
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
        energy_mj = optional("energy", lambda: nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
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
            energy_joules=energy_mj / 1000.0 if energy_mj is not None else None,
            throttle_reasons=optional("throttle reasons",
                                      lambda: throttle_reasons(nvml, handle)),
            ecc=ecc_errors(nvml, handle, optional),
            retired_pages=retired_pages(nvml, handle, optional),
            remapped_rows=optional("remapped rows", lambda: remapped_rows(nvml, handle)),
            pcie_replays=optional("pcie replays", lambda: int(
                nvml.nvmlDeviceGetPcieReplayCounter(handle))),
            xid_errors=self._xids.counts(index) if self._xids is not None else None,
            processes=(self._processes.read(index, handle) if self._processes is not None
                       else None),
        )


# -- what it declares (its JSON piece and catalog entries are in gpu_piece.py, gpu_metrics.py) --
class GpuConfig(CollectorConfig):
    # Processes listed per GPU, by memory in use; the rest are summed into one `other` entry,
    # so that the series stay few. 0: no per-process use.
    top_processes: int = Field(default=5, ge=0, le=100)
    """Processes listed per GPU by memory in use; the rest summed as `other`; 0: none."""


def _build(config: GpuConfig, _: HostConfig) -> GpuCollector:
    # NVML is the driver's, wherever the host's trees are mounted; process names and cgroups
    # are read from psutil's PROCFS_PATH, which the registry points at host.procfs.
    return GpuCollector(top_processes=config.top_processes)


def _lost_devices(sample: GpuSample) -> list[tuple[str, str]]:
    return [(f"gpu.{device.index}", device.error) for device in sample.devices
            if device.error is not None]


SPEC = CollectorSpec(
    name="gpu", config=GpuConfig, build=_build, metrics=METRICS,
    pieces=(JsonPiece("gpu", GpuMetrics, piece),),
    resource=lambda sample: sample.mean_utilization_percent,
    component="gpu", monitored=("gpu.usage", "gpu.temperature"), failures=_lost_devices)
