"""The GPU collector's catalog entries: what `/metrics/prom` shows of it, and which JSON paths
alert rules can name.

Health values that Prometheus gets as one family with labels (ECC errors by `error_type` and
`scope`, retired pages and remapped rows by `error_type`) are flat numbers in the JSON
(`gpu.devices[].ecc_uncorrected_volatile` …), so alert rules can name each one; their entries
say which series gives them (`promql`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from polyad.collectors.base import PERCENT, MetricSpec, Reading, scalar
from polyad.collectors.gpu_health import THROTTLE_REASONS

if TYPE_CHECKING:
    from polyad.collectors.gpu import GpuDevice, GpuSample
    from polyad.collectors.gpu_processes import GpuProcess

__all__ = ["METRICS"]


# -- readings ------------------------------------------------------------------------------
_GPU = ("gpu", "uuid")


def _labels(device: GpuDevice) -> tuple[str, str]:
    return (str(device.index), device.uuid)


def _part(field: str, part: str) -> Callable[[GpuDevice], Any]:
    """A value inside one of the device's health records (None where it has none)."""
    def read(device: GpuDevice) -> Any:
        record = getattr(device, field)
        return getattr(record, part) if record is not None else None
    return read


def _per_device(read: Callable[[GpuDevice], Any]) -> Callable[[GpuSample], list[Reading]]:
    def readings(sample: GpuSample) -> list[Reading]:
        return [(_labels(device), read(device)) for device in sample.devices]
    return readings


def _by_label(values: dict[tuple[str, ...], Callable[[GpuDevice], Any]]
              ) -> Callable[[GpuSample], list[Reading]]:
    """One reading per device and value of the labels after `gpu`, `uuid`."""
    def readings(sample: GpuSample) -> list[Reading]:
        return [((*_labels(device), *labels), read(device))
                for device in sample.devices for labels, read in values.items()]
    return readings


def _throttled(sample: GpuSample) -> list[Reading]:
    return [((*_labels(device), reason), float(reason in device.throttle_reasons))
            for device in sample.devices if device.throttle_reasons is not None
            for reason, _ in THROTTLE_REASONS]


def _xids(sample: GpuSample) -> list[Reading]:
    return [((*_labels(device), str(xid)), count) for device in sample.devices
            for xid, count in device.xid_errors or ()]


def _per_process(read: Callable[[GpuProcess], float | int | None]
                 ) -> Callable[[GpuSample], list[Reading]]:
    def readings(sample: GpuSample) -> list[Reading]:
        return [((*_labels(device), process.name), read(process)) for device in sample.devices
                for process in device.processes or ()]
    return readings


def _device_metric(otel_name: str | None, path: str, unit: str, description: str,
                   read: Callable[[GpuDevice], Any], **options: Any) -> MetricSpec:
    return MetricSpec(otel_name, f"gpu.devices[].{path}", unit, description, _per_device(read),
                      labels=_GPU, **options)


def _field(name: str) -> Callable[[GpuDevice], Any]:
    return lambda device: getattr(device, name)


def _series(family: str, **labels: str) -> tuple[str, float]:
    """The PromQL selecting one labelled series of a family, in the JSON's unit, without the
    labels it selects on: an alert Prometheus raises from it carries the same labels as the
    agent's own, so Alertmanager takes them for one."""
    matchers = ",".join(f'{name}="{value}"' for name, value in labels.items())
    return f"sum without ({', '.join(labels)}) ({family}{{{matchers}}})", 1.0


MHZ = 1e6
_KINDS = ("corrected", "uncorrected")
_ECC: dict[tuple[str, ...], Callable[[GpuDevice], Any]] = {
    (kind, scope): _part("ecc", f"{kind}_{scope}")
    for scope in ("volatile", "aggregate") for kind in _KINDS}
_BASICS = (
    MetricSpec(None, "gpu.usage", "1", "Mean utilization of all GPUs",
               lambda sample: scalar(sample.mean_utilization_percent),
               promql=("avg without (gpu, uuid) (hw_gpu_utilization_ratio)", PERCENT)),
    MetricSpec(None, "gpu.temperature", "Cel", "Temperature of the hottest GPU",
               lambda sample: scalar(sample.hottest_celsius),
               promql=("max without (gpu, uuid) (polyad_gpu_temperature_celsius)", 1.0)),
    _device_metric("polyad.gpu.success", "success", "",
                   "1 when the GPU answered this tick, else 0", _field("success")),
    _device_metric("hw.gpu.utilization", "usage", "1", "Share of time a kernel ran on the GPU",
                   _field("utilization_percent"), otel_scale=PERCENT),
    _device_metric("hw.gpu.memory.usage", "memory_used_bytes", "By", "GPU memory in use",
                   _field("memory_used_bytes")),
    _device_metric("hw.gpu.memory.limit", "memory_total_bytes", "By", "GPU memory installed",
                   _field("memory_total_bytes")),
    _device_metric("hw.gpu.memory.utilization", "memory_usage", "1",
                   "Share of GPU memory in use", _field("memory_percent"), otel_scale=PERCENT),
    _device_metric("polyad.gpu.temperature", "temperature", "Cel", "GPU core temperature",
                   _field("temperature_celsius")),
    _device_metric("polyad.gpu.power", "power_watts", "W", "GPU power draw",
                   _field("power_watts")),
    _device_metric("polyad.gpu.energy", "energy_joules", "J",
                   "Energy the GPU used since the driver loaded", _field("energy_joules"),
                   kind="counter"),
    _device_metric("hw.fan.speed_ratio", "fan_speed", "1",
                   "GPU fan speed as a share of its maximum", _field("fan_percent"),
                   otel_scale=PERCENT),
    _device_metric("polyad.gpu.clock.sm", "sm_clock_mhz", "Hz",
                   "GPU streaming-multiprocessor clock", _field("sm_clock_mhz"), otel_scale=MHZ),
    _device_metric("polyad.gpu.clock.memory", "memory_clock_mhz", "Hz", "GPU memory clock",
                   _field("memory_clock_mhz"), otel_scale=MHZ),
)
_HEALTH = (
    MetricSpec("polyad.gpu.throttle_reason", None, "",
               "1 while the reason holds the GPU's clocks down, else 0", _throttled,
               labels=(*_GPU, "reason")),
    MetricSpec("polyad.gpu.ecc.errors", None, "{error}",
               "Memory errors ECC found: volatile since the driver loaded, aggregate over the "
               "board's life", _by_label(_ECC), labels=(*_GPU, "error.type", "scope"),
               kind="counter"),
    *(_device_metric(None, f"ecc_{kind}_{scope}", "{error}",
                     f"{kind.capitalize()} ECC errors ({scope})", read,
                     promql=_series("polyad_gpu_ecc_errors_total", error_type=kind,
                                    scope=scope))
      for (kind, scope), read in _ECC.items()),
    MetricSpec("polyad.gpu.memory.retired_pages", None, "{page}",
               "GPU memory pages retired after corrected (repeated single-bit) or uncorrected "
               "(double-bit) errors", _by_label({(kind,): _part("retired_pages", kind)
                                                 for kind in _KINDS}),
               labels=(*_GPU, "error.type")),
    *(_device_metric(None, f"retired_pages_{kind}", "{page}",
                     f"GPU memory pages retired after {kind} errors",
                     _part("retired_pages", kind),
                     promql=_series("polyad_gpu_memory_retired_pages", error_type=kind))
      for kind in _KINDS),
    _device_metric("polyad.gpu.memory.retired_pages_pending", "retired_pages_pending", "",
                   "1 while a page retirement waits for the next driver load",
                   _part("retired_pages", "pending")),
    MetricSpec("polyad.gpu.memory.remapped_rows", None, "{row}",
               "GPU memory rows remapped to spares after corrected or uncorrected errors",
               _by_label({(kind,): _part("remapped_rows", kind) for kind in _KINDS}),
               labels=(*_GPU, "error.type")),
    *(_device_metric(None, f"remapped_rows_{kind}", "{row}",
                     f"GPU memory rows remapped after {kind} errors",
                     _part("remapped_rows", kind),
                     promql=_series("polyad_gpu_memory_remapped_rows", error_type=kind))
      for kind in _KINDS),
    _device_metric("polyad.gpu.memory.remapped_rows_pending", "remapped_rows_pending", "",
                   "1 while a row remap waits for a GPU reset", _part("remapped_rows", "pending")),
    _device_metric("polyad.gpu.memory.remapped_rows_failure", "remapped_rows_failure", "",
                   "1 when a row remap failed (the GPU needs service)",
                   _part("remapped_rows", "failure")),
    _device_metric("polyad.gpu.pcie.replays", "pcie_replays", "{replay}",
                   "PCIe replays (link retries) since the driver loaded",
                   _field("pcie_replays"), kind="counter"),
    # The total is there from 0 on, so that increase() sees a GPU's first XID; the counts by
    # code appear with their first XID.
    _device_metric("polyad.gpu.xid_errors", "xid_errors_total", "{xid}",
                   "XID errors the driver reported since the agent started",
                   _field("xid_errors_total"), kind="counter"),
    MetricSpec("polyad.gpu.xid_errors.by_code", None, "{xid}",
               "XID errors the driver reported since the agent started, by code", _xids,
               labels=(*_GPU, "xid"), kind="counter"),
)
_PROCESSES = (
    MetricSpec("polyad.gpu.process.memory.usage", None, "By",
               "GPU memory the processes of that name use (the rest: `other`)",
               _per_process(lambda process: process.memory_used_bytes),
               labels=(*_GPU, "process.executable.name")),
    MetricSpec("polyad.gpu.process.utilization", None, "1",
               "SM utilization of the processes of that name (the rest: `other`)",
               _per_process(lambda process: process.usage_percent),
               labels=(*_GPU, "process.executable.name"), otel_scale=PERCENT),
)
METRICS = (*_BASICS, *_HEALTH, *_PROCESSES)
