"""A stand-in for the `pynvml` module of nvidia-ml-py: same function names, same error classes.

Only what cannot exist on these machines (an NVIDIA driver and GPU) is faked; the collector code
that calls it is the production code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, ClassVar

NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2


class NVMLError(Exception):
    value: ClassVar[int] = 999

    def __str__(self) -> str:
        return type(self).__name__.removeprefix("NVMLError_")


class NVMLError_NotSupported(NVMLError):
    value = 3


class NVMLError_NoPermission(NVMLError):
    value = 4


class NVMLError_DriverNotLoaded(NVMLError):
    value = 9


class NVMLError_LibraryNotFound(NVMLError):
    value = 12


class NVMLError_GpuIsLost(NVMLError):
    value = 15


@dataclass
class FakeGpu:
    name: bytes | str = b"NVIDIA H100 80GB HBM3"
    uuid: bytes | str = "GPU-00000000-1111-2222-3333-444444444444"
    utilization: int = 42
    memory_used: int = 8 * 1024**3
    memory_total: int = 80 * 1024**3
    temperature: int = 61
    power_mw: int = 250_000
    fan: int = 30
    sm_clock_mhz: int = 1980
    memory_clock_mhz: int = 2619
    # name of a field → error class raised when it is read
    failures: dict[str, type[NVMLError]] = field(default_factory=dict)

    def read(self, field_name: str, value: Any) -> Any:
        if field_name in self.failures:
            raise self.failures[field_name]()
        return value


class FakeNvml:
    """Pass an instance where the collector would import `pynvml`."""

    NVMLError: ClassVar[type[Exception]] = NVMLError
    NVMLError_NotSupported: ClassVar[type[Exception]] = NVMLError_NotSupported
    NVMLError_NoPermission: ClassVar[type[Exception]] = NVMLError_NoPermission
    NVMLError_DriverNotLoaded: ClassVar[type[Exception]] = NVMLError_DriverNotLoaded
    NVMLError_LibraryNotFound: ClassVar[type[Exception]] = NVMLError_LibraryNotFound
    NVMLError_GpuIsLost: ClassVar[type[Exception]] = NVMLError_GpuIsLost
    NVML_TEMPERATURE_GPU = NVML_TEMPERATURE_GPU
    NVML_CLOCK_SM = NVML_CLOCK_SM
    NVML_CLOCK_MEM = NVML_CLOCK_MEM

    def __init__(self, gpus: list[FakeGpu] | None = None, *,
                 init_error: type[Exception] | None = None) -> None:
        self.gpus = list(gpus or [])
        self.init_error = init_error
        self.init_calls = 0
        self.shutdown_calls = 0

    def nvmlInit(self) -> None:
        self.init_calls += 1
        if self.init_error is not None:
            raise self.init_error()

    def nvmlShutdown(self) -> None:
        self.shutdown_calls += 1

    def nvmlSystemGetDriverVersion(self) -> bytes:
        return b"560.35.03"

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        return self.gpus[index]

    def nvmlDeviceGetName(self, gpu: FakeGpu) -> bytes | str:
        return gpu.name

    def nvmlDeviceGetUUID(self, gpu: FakeGpu) -> bytes | str:
        uuid: bytes | str = gpu.read("uuid", gpu.uuid)
        return uuid

    def nvmlDeviceGetUtilizationRates(self, gpu: FakeGpu) -> SimpleNamespace:
        return SimpleNamespace(gpu=gpu.read("utilization", gpu.utilization), memory=10)

    def nvmlDeviceGetMemoryInfo(self, gpu: FakeGpu) -> SimpleNamespace:
        used = gpu.read("memory", gpu.memory_used)
        return SimpleNamespace(used=used, total=gpu.memory_total,
                               free=gpu.memory_total - used)

    def nvmlDeviceGetTemperature(self, gpu: FakeGpu, sensor: int) -> int:
        assert sensor == NVML_TEMPERATURE_GPU
        return int(gpu.read("temperature", gpu.temperature))

    def nvmlDeviceGetPowerUsage(self, gpu: FakeGpu) -> int:
        return int(gpu.read("power", gpu.power_mw))

    def nvmlDeviceGetFanSpeed(self, gpu: FakeGpu) -> int:
        return int(gpu.read("fan", gpu.fan))

    def nvmlDeviceGetClockInfo(self, gpu: FakeGpu, clock: int) -> int:
        if clock == NVML_CLOCK_SM:
            return int(gpu.read("sm_clock", gpu.sm_clock_mhz))
        assert clock == NVML_CLOCK_MEM
        return int(gpu.read("memory_clock", gpu.memory_clock_mhz))
