"""The GPU collector's health fields, XID events and per-process use, read from the fake NVML."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pynvml
import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from polyad.collectors.base import NoDataLog
from polyad.collectors.gpu import SPEC, GpuCollector, GpuConfig, GpuDevice, GpuSample
from polyad.collectors.gpu_health import THROTTLE_REASONS, EccErrors, RemappedRows, RetiredPages
from polyad.collectors.gpu_processes import GpuProcess, ProcessReader, process_cgroup, top_by_name
from polyad.config import HostConfig, load_config
from polyad.telemetry import Telemetry
from tests.fakes import nvml as fake
from tests.fakes.nvml import FakeGpu, FakeNvml, FakeProcess
from tests.fakes.samples import full_snapshot

GIB = 1024**3
WAIT_MS = 50  # the XID watch's wait: short, so close() is quick


@pytest.fixture
def collectors() -> Iterator[Callable[..., GpuCollector]]:
    """Makes collectors on fakes, each closed after the test (so no XID watch outlives it)."""
    made: list[GpuCollector] = []

    def make(binding: FakeNvml, **options: Any) -> GpuCollector:
        made.append(GpuCollector(binding, xid_wait_ms=WAIT_MS, **options))
        return made[-1]

    yield make
    for collector in made:
        collector.close()


def one_device(collector: GpuCollector) -> GpuDevice:
    (device,) = collector.collect().devices
    return device


def xid_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "polyad-gpu-xid"]


# -- health ------------------------------------------------------------------------------------
def test_every_health_field_is_read_in_plain_units(collectors: Callable[..., GpuCollector]) -> None:
    device = one_device(collectors(FakeNvml([FakeGpu(remapped_rows=(2, 1, 1, 0))])))
    assert device.success
    assert device.energy_joules == pytest.approx(123_456.789)  # from 123456789 mJ
    assert device.throttle_reasons == ("sw_power_cap",)
    assert device.ecc == EccErrors(corrected_volatile=2, uncorrected_volatile=0,
                                   corrected_aggregate=10, uncorrected_aggregate=1)
    assert device.retired_pages == RetiredPages(corrected=1, uncorrected=0, pending=False)
    assert device.remapped_rows == RemappedRows(corrected=2, uncorrected=1, pending=True,
                                                failure=False)
    assert device.pcie_replays == 3


def test_throttle_reasons_are_decoded_by_name(collectors: Callable[..., GpuCollector]) -> None:
    mask = (fake.nvmlClocksEventReasonGpuIdle | fake.nvmlClocksEventReasonHwThermalSlowdown
            | fake.nvmlClocksEventReasonSwPowerCap | 0x8000)  # a bit polyad does not know
    device = one_device(collectors(FakeNvml([FakeGpu(clocks_event_reasons=mask)])))
    assert device.throttle_reasons == ("gpu_idle", "sw_power_cap", "hw_thermal_slowdown")
    idle = one_device(collectors(FakeNvml([FakeGpu(clocks_event_reasons=0)])))
    assert idle.throttle_reasons == ()


def test_a_driver_before_535_gives_the_reasons_through_the_throttle_call(
    collectors: Callable[..., GpuCollector],
) -> None:
    gpu = FakeGpu(clocks_event_reasons=fake.nvmlClocksEventReasonHwSlowdown,
                  failures={"clocks_event_reasons": fake.NVMLError_FunctionNotFound})
    assert one_device(collectors(FakeNvml([gpu]))).throttle_reasons == ("hw_slowdown",)


@pytest.mark.parametrize(("name", "bit"), THROTTLE_REASONS)
def test_the_reason_bits_are_nvmls(name: str, bit: int) -> None:
    suffix = "".join(part.capitalize() for part in name.split("_"))
    suffix = {"DisplayClocksSetting": "DisplayClockSetting"}.get(suffix, suffix)  # NVML's name
    assert getattr(pynvml, f"nvmlClocksEventReason{suffix}") == bit
    assert getattr(pynvml, f"nvmlClocksThrottleReason{suffix}") == bit


NOT_SUPPORTED: dict[str, tuple[tuple[str, ...], Callable[[GpuDevice], object]]] = {
    "energy": (("energy",), lambda device: device.energy_joules),
    "throttle reasons": (("clocks_event_reasons", "clocks_throttle_reasons"),
                         lambda device: device.throttle_reasons),
    "ecc": (("ecc",), lambda device: device.ecc),
    "retired pages": (("retired_pages",), lambda device: device.retired_pages),
    "remapped rows": (("remapped_rows",), lambda device: device.remapped_rows),
    "pcie replays": (("pcie_replays",), lambda device: device.pcie_replays),
    "processes": (("processes",), lambda device: device.processes),
}


@pytest.mark.parametrize("field", NOT_SUPPORTED)
def test_a_value_the_gpu_does_not_report_is_null_logged_once_and_the_gpu_still_answers(
    field: str, collectors: Callable[..., GpuCollector],
) -> None:
    failing, read = NOT_SUPPORTED[field]
    gpu = FakeGpu(failures=dict.fromkeys(failing, fake.NVMLError_NotSupported))
    collector = collectors(FakeNvml([gpu]))
    with capture_logs() as logs:
        devices = [one_device(collector) for _ in range(3)]
    assert all(read(device) is None and device.success for device in devices)
    assert devices[0].utilization_percent == 42.0 and devices[0].power_watts == 250.0
    debug = [log for log in logs if log["log_level"] == "debug"]
    assert len(debug) == 1 and "does not report" in debug[0]["reason"]
    assert collector.no_data is None


def test_without_the_pending_status_retired_pages_still_count(
    collectors: Callable[..., GpuCollector],
) -> None:
    gpu = FakeGpu(failures={"retired_pages_pending": fake.NVMLError_NotSupported})
    assert one_device(collectors(FakeNvml([gpu]))).retired_pages == RetiredPages(1, 0, None)


def test_an_unexpected_error_in_a_health_call_fails_that_gpu_only(
    collectors: Callable[..., GpuCollector],
) -> None:
    gpus = [FakeGpu(failures={"pcie_replays": fake.NVMLError_GpuIsLost}), FakeGpu()]
    lost, healthy = collectors(FakeNvml(gpus)).collect().devices
    assert not lost.success and lost.error == "NVMLError_GpuIsLost: GpuIsLost"
    assert lost.ecc is None and lost.processes is None
    assert healthy.success and healthy.pcie_replays == 3


# -- XID events --------------------------------------------------------------------------------
def test_an_xid_is_counted_by_the_next_tick(collectors: Callable[..., GpuCollector]) -> None:
    binding = FakeNvml([FakeGpu(), FakeGpu(uuid="GPU-b")])
    collector = collectors(binding)
    first = collector.collect()
    assert [device.xid_errors for device in first.devices] == [(), ()]
    (event_set,) = binding.event_sets
    binding.emit_xid(1, 79)
    binding.emit_xid(1, 79)
    binding.emit_xid(1, 48)
    assert event_set.wait_handled(3), "the watch did not take the XIDs in time"
    quiet, faulty = collector.collect().devices
    assert quiet.xid_errors == () and quiet.xid_errors_total == 0
    assert faulty.xid_errors == ((48, 1), (79, 2)) and faulty.xid_errors_total == 3


def test_close_stops_the_watch_quickly_and_frees_the_event_set(
    collectors: Callable[..., GpuCollector],
) -> None:
    before = len(xid_threads())
    binding = FakeNvml([FakeGpu()])
    collector = collectors(binding)
    collector.collect()
    assert len(xid_threads()) == before + 1
    started = time.monotonic()
    collector.close()
    assert time.monotonic() - started < WAIT_MS / 1000 + 0.5
    assert len(xid_threads()) == before
    (event_set,) = binding.event_sets
    assert event_set.freed and binding.shutdown_calls == 1


@pytest.mark.parametrize("where", ["register", "create"])
def test_no_xid_events_on_this_gpu_is_no_data_not_a_failure(
    where: str, collectors: Callable[..., GpuCollector],
) -> None:
    binding = FakeNvml([FakeGpu(failures={"register_events": fake.NVMLError_NotSupported})
                        if where == "register" else FakeGpu()])
    if where == "create":
        binding.event_set_error = fake.NVMLError_NotSupported
    before = len(xid_threads())
    collector = collectors(binding)
    with capture_logs() as logs:
        devices = [one_device(collector) for _ in range(2)]
    assert all(device.success and device.xid_errors is None for device in devices)
    assert devices[0].xid_errors_total is None and devices[0].ecc is not None
    assert len(xid_threads()) == before  # nothing to wait for
    assert all(event_set.freed for event_set in binding.event_sets)
    assert [log["reason"] for log in logs if "XID" in log.get("reason", "")] == [
        "gpu 0 does not report XID events: NotSupported" if where == "register" else
        "no XID events: cannot create an NVML event set: NotSupported"]


def test_a_gpu_that_cannot_report_xids_does_not_stop_the_others_watch(
    collectors: Callable[..., GpuCollector],
) -> None:
    binding = FakeNvml([FakeGpu(failures={"register_events": fake.NVMLError_NotSupported}),
                        FakeGpu(uuid="GPU-b")])
    collector = collectors(binding)
    collector.collect()
    binding.emit_xid(0, 13)  # not registered: never delivered
    binding.emit_xid(1, 13)
    assert binding.event_sets[0].wait_handled(1)
    unwatched, watched = collector.collect().devices
    assert unwatched.xid_errors is None and watched.xid_errors == ((13, 1),)


def test_a_failing_wait_is_said_once_and_close_still_stops_it(
    collectors: Callable[..., GpuCollector],
) -> None:
    before = len(xid_threads())
    binding = FakeNvml([FakeGpu()])
    binding.wait_error = fake.NVMLError_Unknown
    collector = collectors(binding)
    with capture_logs() as logs:
        collector.collect()
        assert one_device(collector).success
        collector.close()
    assert len(xid_threads()) == before
    failures = [log for log in logs if "waiting for XID" in log.get("reason", "")]
    assert len(failures) <= 1  # the watch may not have waited yet when it was closed


# -- per-process use ---------------------------------------------------------------------------
def test_processes_are_summed_by_name_with_this_processs_own_name(
    collectors: Callable[..., GpuCollector],
) -> None:
    me, gone = os.getpid(), 2**31 - 1  # this test's process, and no process at all
    gpu = FakeGpu(processes=[FakeProcess(me, 2 * GIB, sm_util=30),
                             FakeProcess(gone, 1 * GIB, sm_util=5),
                             FakeProcess(gone - 1, 3 * GIB, sm_util=0)])
    device = one_device(collectors(FakeNvml([gpu])))
    assert device.processes == (
        GpuProcess("unknown", None, 4 * GIB, 5.0),  # two unreadable PIDs, one idle
        GpuProcess(psutil.Process(me).name(), process_cgroup(me), 2 * GIB, 30.0))


def test_per_process_use_is_capped_to_the_top_names_and_the_rest_summed() -> None:
    gpu = FakeGpu(processes=[FakeProcess(pid, pid * GIB, sm_util=2 * pid)
                             for pid in range(1, 8)])
    reader = ProcessReader(FakeNvml([gpu]), NoDataLog("gpu"), top=2,
                           name_of=lambda pid: f"worker{pid}" if pid > 1 else "worker2",
                           cgroup_of=lambda pid: "/gpu.slice")
    assert reader.read(0, gpu) == (
        GpuProcess("worker7", "/gpu.slice", 7 * GIB, 14.0),
        GpuProcess("worker6", "/gpu.slice", 6 * GIB, 12.0),
        GpuProcess("other", "/gpu.slice", 15 * GIB, 30.0))  # workers 2 (PIDs 1, 2) to 5


def test_top_by_name_keeps_a_real_process_named_other_apart_from_nothing() -> None:
    entries = [GpuProcess("other", "/a", 5 * GIB, 10.0), GpuProcess("big", "/a", 9 * GIB, 1.0),
               GpuProcess("small", "/b", 1 * GIB, None)]
    assert top_by_name(entries, 2) == (
        GpuProcess("big", "/a", 9 * GIB, 1.0),
        GpuProcess("other", None, 6 * GIB, 10.0))  # the real "other" and the rest, summed
    assert top_by_name(entries, 5) == tuple(sorted(entries, key=lambda e: -(e.memory_used_bytes
                                                                            or 0)))
    assert top_by_name([], 5) == ()


def test_utilization_is_per_tick_so_a_process_idle_since_reads_zero(
    collectors: Callable[..., GpuCollector],
) -> None:
    process = FakeProcess(os.getpid(), GIB, sm_util=20)
    binding = FakeNvml([FakeGpu(processes=[process])])
    collector = collectors(binding)
    assert one_device(collector).processes[0].usage_percent == 20.0  # type: ignore[index]
    process.sm_util = 0  # idle since: NVML has no newer sample (NotFound)
    assert one_device(collector).processes[0].usage_percent == 0.0  # type: ignore[index]


def test_without_per_process_samples_memory_is_still_listed(
    collectors: Callable[..., GpuCollector],
) -> None:
    gpu = FakeGpu(failures={"process_utilization": fake.NVMLError_NotSupported})
    (process,) = one_device(collectors(FakeNvml([gpu]))).processes or ()
    assert process.memory_used_bytes == 6 * GIB and process.usage_percent is None


def test_no_process_listing_when_top_processes_is_zero(
    collectors: Callable[..., GpuCollector],
) -> None:
    assert one_device(collectors(FakeNvml([FakeGpu()]), top_processes=0)).processes is None


def test_the_cgroup_is_read_from_the_hosts_procfs(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "PROCFS_PATH", str(tmp_path))
    (tmp_path / "10").mkdir()
    (tmp_path / "10" / "cgroup").write_text("0::/system.slice/train.service\n")
    (tmp_path / "11").mkdir()
    (tmp_path / "11" / "cgroup").write_text("12:memory:/docker/abc\n11:cpu:/docker/abc\n")
    assert process_cgroup(10) == "/system.slice/train.service"
    assert process_cgroup(11) == "/docker/abc"
    assert process_cgroup(12) is None


def test_the_gpu_section_sets_the_cap() -> None:
    config = load_config(environ={"POLYAD_COLLECTORS__GPU__TOP_PROCESSES": "3"}, overrides={})
    section = config.collectors.section("gpu")
    assert isinstance(section, GpuConfig) and section.top_processes == 3
    assert GpuConfig().top_processes == 5
    collector = SPEC.build(section, HostConfig())
    assert isinstance(collector, GpuCollector) and collector._top_processes == 3


# -- what it declares --------------------------------------------------------------------------
def test_the_exposition_has_the_health_and_process_series() -> None:
    snapshot = full_snapshot()
    telemetry = Telemetry(lambda: snapshot)
    exposed = {(sample.name, frozenset(sample.labels.items())): sample.value
               for family in text_string_to_metric_families(telemetry.render("")[0].decode())
               for sample in family.samples}
    telemetry.shutdown()

    def value(name: str, **labels: str) -> float:
        return exposed[(name, frozenset({"gpu": "0", "uuid": "GPU-00000000", **labels}.items()))]

    assert value("polyad_gpu_xid_errors_by_code_total", xid="79") == 1.0
    assert value("polyad_gpu_xid_errors_total") == 1.0
    assert value("polyad_gpu_ecc_errors_total", error_type="uncorrected", scope="aggregate") == 1
    assert value("polyad_gpu_throttle_reason", reason="sw_power_cap") == 1.0
    assert value("polyad_gpu_throttle_reason", reason="hw_slowdown") == 0.0
    assert value("polyad_gpu_memory_remapped_rows", error_type="corrected") == 1.0
    assert value("polyad_gpu_energy_joules_total") == 123456.789
    assert value("polyad_gpu_process_utilization_ratio",
                 process_executable_name="python3") == pytest.approx(0.4)
    assert value("polyad_gpu_process_memory_usage_bytes",
                 process_executable_name="python3") == 6 * GIB


def test_a_sample_without_health_reads_nothing_for_it() -> None:
    bare = GpuDevice(0, "GPU-0", "NVIDIA T4", *(None,) * 8)
    sample = GpuSample(nvml_available=True, driver_version="560.35.03", devices=(bare,))
    for spec in SPEC.metrics:
        if spec.otel_name and spec.labels[2:]:  # a family with labels past gpu, uuid
            assert [value for _, value in spec.read(sample) if value is not None] == [], \
                spec.otel_name


def test_a_process_name_is_asked_once_while_the_process_is_on_a_gpu() -> None:
    gpu = FakeGpu(processes=[FakeProcess(7, GIB, sm_util=1)])
    asked: list[int] = []

    def name_of(pid: int) -> str:
        asked.append(pid)
        return f"job{len(asked)}"

    reader = ProcessReader(FakeNvml([gpu]), NoDataLog("gpu"), top=5, name_of=name_of,
                           cgroup_of=lambda pid: None)
    for _ in range(3):
        assert [entry.name for entry in reader.read(0, gpu) or ()] == ["job1"]
        reader.end_tick()
    gpu.processes = []
    reader.read(0, gpu)
    reader.end_tick()                      # PID 7 left every GPU: forgotten
    gpu.processes = [FakeProcess(7, GIB, sm_util=1)]
    assert [entry.name for entry in reader.read(0, gpu) or ()] == ["job2"]
    assert asked == [7, 7]
