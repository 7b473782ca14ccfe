"""A stand-in for the `pynvml` module of nvidia-ml-py: same function names, same error classes.

Only what cannot exist on these machines (an NVIDIA driver and GPU) is faked; the collector code
that calls it is the production code.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, ClassVar

# The real binding's values (nvml.h).
NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
NVML_VOLATILE_ECC = 0
NVML_AGGREGATE_ECC = 1
NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS = 0
NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR = 1
nvmlEventTypeXidCriticalError = 0x8
nvmlClocksEventReasonGpuIdle = 0x1
nvmlClocksEventReasonSwPowerCap = 0x4
nvmlClocksEventReasonHwSlowdown = 0x8
nvmlClocksEventReasonSwThermalSlowdown = 0x20
nvmlClocksEventReasonHwThermalSlowdown = 0x40
nvmlClocksEventReasonHwPowerBrakeSlowdown = 0x80


class NVMLError(Exception):
    value: ClassVar[int] = 999

    def __str__(self) -> str:
        return type(self).__name__.removeprefix("NVMLError_")


class NVMLError_NotSupported(NVMLError):
    value = 3


class NVMLError_NoPermission(NVMLError):
    value = 4


class NVMLError_NotFound(NVMLError):
    value = 6


class NVMLError_DriverNotLoaded(NVMLError):
    value = 9


class NVMLError_Timeout(NVMLError):
    value = 10


class NVMLError_LibraryNotFound(NVMLError):
    value = 12


class NVMLError_FunctionNotFound(NVMLError):
    value = 13


class NVMLError_GpuIsLost(NVMLError):
    value = 15


class NVMLError_Unknown(NVMLError):
    value = 999


@dataclass
class FakeProcess:
    """A process on a GPU: what NVML's process list and its utilization samples say of it."""

    pid: int
    memory_used: int | None = 6 * 1024**3
    sm_util: int = 40          # percent, in every sample; 0: idle, so no sample at all


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
    energy_mj: int = 123_456_789
    clocks_event_reasons: int = nvmlClocksEventReasonSwPowerCap
    # (error type, counter type) → count: NVML_MEMORY_ERROR_TYPE_*, NVML_*_ECC
    ecc: dict[tuple[int, int], int] = field(default_factory=lambda: {
        (NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_VOLATILE_ECC): 2,
        (NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC): 0,
        (NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_AGGREGATE_ECC): 10,
        (NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_AGGREGATE_ECC): 1})
    # cause (NVML_PAGE_RETIREMENT_CAUSE_*) → page addresses
    retired_pages: dict[int, list[int]] = field(default_factory=lambda: {
        NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS: [0x1000],
        NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR: []})
    retired_pages_pending: int = 0
    # rows remapped after corrected, uncorrected errors; a remap pending; a remap failed
    remapped_rows: tuple[int, int, int, int] = (1, 0, 0, 0)
    pcie_replays: int = 3
    processes: list[FakeProcess] = field(default_factory=lambda: [FakeProcess(pid=4242)])
    # name of a field → error class raised when it is read: uuid, utilization, memory,
    # temperature, power, fan, sm_clock, memory_clock, energy, clocks_event_reasons,
    # clocks_throttle_reasons, ecc, retired_pages, retired_pages_pending, remapped_rows,
    # pcie_replays, processes, process_utilization, register_events
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
    NVMLError_NotFound: ClassVar[type[Exception]] = NVMLError_NotFound
    NVMLError_Timeout: ClassVar[type[Exception]] = NVMLError_Timeout
    NVMLError_FunctionNotFound: ClassVar[type[Exception]] = NVMLError_FunctionNotFound
    NVMLError_Unknown: ClassVar[type[Exception]] = NVMLError_Unknown
    NVML_TEMPERATURE_GPU = NVML_TEMPERATURE_GPU
    NVML_CLOCK_SM = NVML_CLOCK_SM
    NVML_CLOCK_MEM = NVML_CLOCK_MEM
    NVML_MEMORY_ERROR_TYPE_CORRECTED = NVML_MEMORY_ERROR_TYPE_CORRECTED
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = NVML_MEMORY_ERROR_TYPE_UNCORRECTED
    NVML_VOLATILE_ECC = NVML_VOLATILE_ECC
    NVML_AGGREGATE_ECC = NVML_AGGREGATE_ECC
    NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS = (
        NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS)
    NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR = (
        NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR)
    nvmlEventTypeXidCriticalError = nvmlEventTypeXidCriticalError

    def __init__(self, gpus: list[FakeGpu] | None = None, *,
                 init_error: type[Exception] | None = None) -> None:
        self.gpus = list(gpus or [])
        self.init_error = init_error
        self.init_calls = 0
        self.shutdown_calls = 0
        self.event_set_error: type[Exception] | None = None  # raised by nvmlEventSetCreate
        self.wait_error: type[Exception] | None = None       # raised by every nvmlEventSetWait_v2
        self.event_sets: list[FakeEventSet] = []
        self.sample_clock_us = 1_700_000_000_000_000   # each utilization read is a later sample

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

    def nvmlDeviceGetIndex(self, gpu: FakeGpu) -> int:
        return next(index for index, known in enumerate(self.gpus) if known is gpu)

    def nvmlDeviceGetTotalEnergyConsumption(self, gpu: FakeGpu) -> int:
        return int(gpu.read("energy", gpu.energy_mj))

    def nvmlDeviceGetCurrentClocksEventReasons(self, gpu: FakeGpu) -> int:
        return int(gpu.read("clocks_event_reasons", gpu.clocks_event_reasons))

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, gpu: FakeGpu) -> int:
        return int(gpu.read("clocks_throttle_reasons", gpu.clocks_event_reasons))

    def nvmlDeviceGetTotalEccErrors(self, gpu: FakeGpu, error_type: int, counter_type: int) -> int:
        return int(gpu.read("ecc", gpu.ecc[(error_type, counter_type)]))

    def nvmlDeviceGetRetiredPages(self, gpu: FakeGpu, cause: int) -> list[int]:
        return list(gpu.read("retired_pages", gpu.retired_pages[cause]))

    def nvmlDeviceGetRetiredPagesPendingStatus(self, gpu: FakeGpu) -> int:
        return int(gpu.read("retired_pages_pending", gpu.retired_pages_pending))

    def nvmlDeviceGetRemappedRows(self, gpu: FakeGpu) -> tuple[int, int, int, int]:
        rows: tuple[int, int, int, int] = gpu.read("remapped_rows", gpu.remapped_rows)
        return rows

    def nvmlDeviceGetPcieReplayCounter(self, gpu: FakeGpu) -> int:
        return int(gpu.read("pcie_replays", gpu.pcie_replays))

    def nvmlDeviceGetComputeRunningProcesses(self, gpu: FakeGpu) -> list[SimpleNamespace]:
        processes: list[FakeProcess] = gpu.read("processes", gpu.processes)
        return [SimpleNamespace(pid=process.pid, usedGpuMemory=process.memory_used,
                                gpuInstanceId=0xFFFFFFFF, computeInstanceId=0xFFFFFFFF)
                for process in processes]

    def nvmlDeviceGetProcessUtilization(self, gpu: FakeGpu,
                                        last_seen_us: int) -> list[SimpleNamespace]:
        """One sample per busy process, newer than any before; NotFound when none is busy,
        as NVML answers when it has no sample newer than `last_seen_us`."""
        gpu.read("process_utilization", None)
        self.sample_clock_us += 1_000_000
        samples = [SimpleNamespace(pid=process.pid, timeStamp=self.sample_clock_us,
                                   smUtil=process.sm_util, memUtil=0, encUtil=0, decUtil=0)
                   for process in gpu.processes if process.sm_util > 0]
        if not samples or self.sample_clock_us <= last_seen_us:
            raise NVMLError_NotFound()
        return samples

    # -- events ----------------------------------------------------------------------------
    def nvmlEventSetCreate(self) -> FakeEventSet:
        if self.event_set_error is not None:
            raise self.event_set_error()
        event_set = FakeEventSet()
        self.event_sets.append(event_set)
        return event_set

    def nvmlDeviceRegisterEvents(self, gpu: FakeGpu, event_types: int,
                                 event_set: FakeEventSet) -> None:
        gpu.read("register_events", None)
        event_set.register(gpu, event_types)

    def nvmlEventSetWait_v2(self, event_set: FakeEventSet, timeout_ms: int) -> SimpleNamespace:
        if self.wait_error is not None:
            raise self.wait_error()
        return event_set.wait(timeout_ms)

    def nvmlEventSetFree(self, event_set: FakeEventSet) -> None:
        event_set.free()

    def emit_xid(self, gpu_index: int, xid: int) -> None:
        """The driver reports XID `xid` on that GPU: every event set it is registered with
        delivers it to the next wait."""
        gpu = self.gpus[gpu_index]
        for event_set in self.event_sets:
            event_set.deliver(gpu, nvmlEventTypeXidCriticalError, xid)


class FakeEventSet:
    """NVML's event set: a wait returns a pending event at once, or blocks up to its timeout and
    then raises NVMLError_Timeout, as nvmlEventSetWait_v2 does."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._pending: list[SimpleNamespace] = []
        self._registered: dict[int, tuple[FakeGpu, int]] = {}
        self.freed = False
        self.taken = 0     # events a wait has returned
        self.handled = 0   # events taken before the latest wait began: the waiter is done with them

    def register(self, gpu: FakeGpu, event_types: int) -> None:
        with self._ready:
            _, known = self._registered.get(id(gpu), (gpu, 0))
            self._registered[id(gpu)] = (gpu, known | event_types)

    def deliver(self, gpu: FakeGpu, event_type: int, data: int) -> None:
        with self._ready:
            _, types = self._registered.get(id(gpu), (gpu, 0))
            if not types & event_type:
                return
            self._pending.append(SimpleNamespace(device=gpu, eventType=event_type,
                                                 eventData=data, gpuInstanceId=0xFFFFFFFF,
                                                 computeInstanceId=0xFFFFFFFF))
            self._ready.notify_all()

    def wait(self, timeout_ms: int) -> SimpleNamespace:
        assert not self.freed, "waited on a freed event set"
        with self._ready:
            self.handled = self.taken
            self._ready.notify_all()
            if not self._ready.wait_for(lambda: bool(self._pending), timeout_ms / 1000):
                raise NVMLError_Timeout()
            self.taken += 1
            return self._pending.pop(0)

    def wait_handled(self, events: int, timeout_s: float = 5.0) -> bool:
        """For tests: blocks until the waiter has handled `events` events (it is back in a wait
        after taking them), or `timeout_s` passed."""
        with self._ready:
            return self._ready.wait_for(lambda: self.handled >= events, timeout_s)

    def free(self) -> None:
        with self._ready:
            self.freed = True
