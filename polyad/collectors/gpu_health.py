"""A GPU's health as NVML reports it: clock throttle reasons, ECC error counts, retired memory
pages (before Ampere) and remapped rows (Ampere on). Each read gives None where the device or
driver does not report it; the caller logs that once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

__all__ = ["THROTTLE_REASONS", "EccErrors", "ReadOptional", "RemappedRows", "RetiredPages",
           "ecc_errors", "remapped_rows", "retired_pages", "throttle_reasons"]

T = TypeVar("T")

# nvml.h's nvmlClocksEventReason* bits (the same as the older nvmlClocksThrottleReason*), by the
# name polyad gives them (the `reason` label). Bits not listed here are left out.
THROTTLE_REASONS: tuple[tuple[str, int], ...] = (
    ("gpu_idle", 0x1),
    ("applications_clocks_setting", 0x2),
    ("sw_power_cap", 0x4),
    ("hw_slowdown", 0x8),
    ("sync_boost", 0x10),
    ("sw_thermal_slowdown", 0x20),
    ("hw_thermal_slowdown", 0x40),
    ("hw_power_brake_slowdown", 0x80),
    ("display_clocks_setting", 0x100),
)


class ReadOptional(Protocol):
    """Calls `read`; None (logged once) where the device does not report `field`."""

    def __call__(self, field: str, read: Callable[[], T]) -> T | None: ...


@dataclass(frozen=True, slots=True)
class EccErrors:
    """Memory errors ECC found: volatile since the driver loaded, aggregate over the board's
    life. Each is None where the device does not count it (ECC off, a consumer GPU)."""

    corrected_volatile: int | None
    uncorrected_volatile: int | None
    corrected_aggregate: int | None
    uncorrected_aggregate: int | None


@dataclass(frozen=True, slots=True)
class RetiredPages:
    """Memory pages taken out of use: after repeated corrected (single-bit) errors, or one
    uncorrected (double-bit) error; `pending`: a retirement waits for the next driver load."""

    corrected: int
    uncorrected: int
    pending: bool | None


@dataclass(frozen=True, slots=True)
class RemappedRows:
    """Memory rows remapped to spares after corrected or uncorrected errors; `pending`: a remap
    waits for a GPU reset; `failure`: a remap failed (the GPU needs service)."""

    corrected: int
    uncorrected: int
    pending: bool
    failure: bool


def throttle_reasons(nvml: Any, handle: Any) -> tuple[str, ...]:
    """The names of the reasons holding the clocks down now. nvmlDeviceGetCurrentClocksEventReasons
    came with driver 535; before it, the same bits are the ...ThrottleReasons call's."""
    read = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
    mask: int | None = None
    if read is not None:
        try:
            mask = int(read(handle))
        except nvml.NVMLError_FunctionNotFound:
            mask = None
    if mask is None:
        mask = int(nvml.nvmlDeviceGetCurrentClocksThrottleReasons(handle))
    return tuple(name for name, bit in THROTTLE_REASONS if mask & bit)


def ecc_errors(nvml: Any, handle: Any, optional: ReadOptional) -> EccErrors | None:
    def count(error_type: int, counter_type: int) -> int | None:
        return optional("ecc errors", lambda: int(
            nvml.nvmlDeviceGetTotalEccErrors(handle, error_type, counter_type)))

    corrected, uncorrected = (nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED,
                              nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED)
    errors = EccErrors(count(corrected, nvml.NVML_VOLATILE_ECC),
                       count(uncorrected, nvml.NVML_VOLATILE_ECC),
                       count(corrected, nvml.NVML_AGGREGATE_ECC),
                       count(uncorrected, nvml.NVML_AGGREGATE_ECC))
    return None if errors == EccErrors(None, None, None, None) else errors


def retired_pages(nvml: Any, handle: Any, optional: ReadOptional) -> RetiredPages | None:
    def read() -> RetiredPages:
        corrected = nvml.nvmlDeviceGetRetiredPages(
            handle, nvml.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS)
        uncorrected = nvml.nvmlDeviceGetRetiredPages(
            handle, nvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR)
        pending = optional("retired pages pending", lambda: bool(
            nvml.nvmlDeviceGetRetiredPagesPendingStatus(handle)))
        return RetiredPages(len(corrected), len(uncorrected), pending)

    return optional("retired pages", read)


def remapped_rows(nvml: Any, handle: Any) -> RemappedRows:
    corrected, uncorrected, pending, failure = nvml.nvmlDeviceGetRemappedRows(handle)
    return RemappedRows(int(corrected), int(uncorrected), bool(pending), bool(failure))
