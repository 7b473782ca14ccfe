from __future__ import annotations

import _ctypes
import importlib
import shutil
from pathlib import Path
from types import ModuleType

import pynvml
import pytest
from structlog.testing import capture_logs

from polyad.collectors.gpu import GpuCollector, NvmlStartError
from tests.fakes import nvml as fake
from tests.fakes.nvml import FakeGpu, FakeNvml

GIB = 1024**3


def test_no_library_is_no_data_logged_once_at_debug() -> None:
    binding = FakeNvml(init_error=fake.NVMLError_LibraryNotFound)
    collector = GpuCollector(binding)
    with capture_logs() as logs:
        samples = [collector.collect() for _ in range(3)]
    assert all(s.devices == () and not s.nvml_available for s in samples)
    assert binding.init_calls == 1  # not retried every tick
    assert collector.no_data == "NVML unavailable: LibraryNotFound"
    assert [(log["log_level"], log["event"]) for log in logs] == [
        ("debug", "collector has no data")]
    collector.close()
    assert binding.shutdown_calls == 0


def imports_seen(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real_import = importlib.import_module

    def import_module(name: str) -> ModuleType:
        seen.append(name)
        return real_import(name)

    monkeypatch.setattr(importlib, "import_module", import_module)
    return seen


def test_without_the_driver_s_library_the_binding_is_not_even_imported(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen = imports_seen(monkeypatch)
    collector = GpuCollector(library="libpolyad-no-such-library.so.1")
    sample = collector.collect()
    assert not sample.nvml_available and sample.devices == ()
    assert collector.no_data == "NVML unavailable: NVML Shared Library Not Found"
    assert seen == []
    collector.close()


def test_with_a_library_of_that_name_the_real_binding_takes_over(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen = imports_seen(monkeypatch)
    assert _ctypes.__file__ is not None
    stand_in = shutil.copyfile(_ctypes.__file__, tmp_path / "libstand-in.so.1")
    collector = GpuCollector(library=str(stand_in))
    collector.collect()     # pynvml then looks for libnvidia-ml.so.1 itself (not here)
    assert seen == ["pynvml"]
    assert collector.no_data == "NVML unavailable: NVML Shared Library Not Found"
    collector.close()


def test_driver_not_loaded_is_no_data_too() -> None:
    sample = GpuCollector(FakeNvml(init_error=fake.NVMLError_DriverNotLoaded)).collect()
    assert sample.devices == () and sample.driver_version is None


def test_zero_devices() -> None:
    binding = FakeNvml([])
    collector = GpuCollector(binding)
    sample = collector.collect()
    assert sample.nvml_available and sample.devices == ()
    assert collector.no_data == "NVML reports no GPU devices"
    assert sample.driver_version == "560.35.03"
    assert sample.mean_utilization_percent is None and sample.hottest_celsius is None
    collector.close()
    assert binding.shutdown_calls == 1


def test_two_devices_report_every_field_in_plain_units() -> None:
    gpus = [FakeGpu(),
            FakeGpu(name="NVIDIA A10", uuid=b"GPU-b", utilization=80, temperature=75,
                    memory_used=12 * GIB, memory_total=24 * GIB, power_mw=150_500)]
    collector = GpuCollector(FakeNvml(gpus))
    sample = collector.collect()
    collector.close()
    assert collector.no_data is None
    first, second = sample.devices
    assert (first.index, first.name, first.uuid) == (
        0, "NVIDIA H100 80GB HBM3", "GPU-00000000-1111-2222-3333-444444444444")
    assert first.utilization_percent == 42.0
    assert (first.memory_used_bytes, first.memory_total_bytes) == (8 * GIB, 80 * GIB)
    assert first.memory_percent == 10.0
    assert (first.temperature_celsius, first.power_watts, first.fan_percent) == (61.0, 250.0, 30.0)
    assert (first.sm_clock_mhz, first.memory_clock_mhz) == (1980.0, 2619.0)
    assert (second.index, second.name, second.uuid) == (1, "NVIDIA A10", "GPU-b")
    assert second.power_watts == 150.5 and second.memory_percent == 50.0
    assert sample.mean_utilization_percent == 61.0
    assert sample.hottest_celsius == 75.0


def test_a_temperature_call_that_is_not_supported_gives_null_for_that_field_only() -> None:
    gpus = [FakeGpu(failures={"temperature": fake.NVMLError_NotSupported}), FakeGpu()]
    collector = GpuCollector(FakeNvml(gpus))
    with capture_logs() as logs:
        collector.collect()
        sample = collector.collect()
    collector.close()
    unsupported, healthy = sample.devices
    assert unsupported.temperature_celsius is None
    assert unsupported.utilization_percent == 42.0 and unsupported.power_watts == 250.0
    assert healthy.temperature_celsius == 61.0
    assert sample.hottest_celsius == 61.0
    assert len([log for log in logs if log["log_level"] == "debug"]) == 1


def test_a_lost_gpu_reports_its_error_and_does_not_hide_the_healthy_one() -> None:
    gpus = [FakeGpu(uuid="GPU-lost", failures={"power": fake.NVMLError_GpuIsLost}), FakeGpu()]
    collector = GpuCollector(FakeNvml(gpus))
    sample = collector.collect()
    collector.close()
    lost, healthy = sample.devices
    assert (lost.uuid, lost.success, lost.error) == ("GPU-lost", False,
                                                     "NVMLError_GpuIsLost: GpuIsLost")
    assert lost.utilization_percent is None and lost.temperature_celsius is None
    assert healthy.success and healthy.error is None and healthy.utilization_percent == 42.0
    assert sample.mean_utilization_percent == 42.0


class Clock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def test_a_driver_that_loads_after_the_agent_is_picked_up_at_the_next_retry() -> None:
    binding = FakeNvml([FakeGpu()], init_error=fake.NVMLError_DriverNotLoaded)
    clock = Clock()
    collector = GpuCollector(binding, retry_s=60, clock=clock)
    assert collector.collect().devices == ()
    binding.init_error = None  # the driver finished loading
    clock.now_s = 30
    assert collector.collect().devices == ()  # not retried before the interval
    clock.now_s = 61
    sample = collector.collect()
    collector.close()
    assert len(sample.devices) == 1 and collector.no_data is None
    assert binding.init_calls == 2


def test_an_unexpected_init_error_fails_every_tick_until_a_retry_succeeds() -> None:
    binding = FakeNvml([FakeGpu()], init_error=fake.NVMLError_GpuIsLost)
    clock = Clock()
    collector = GpuCollector(binding, retry_s=60, clock=clock)
    for now_s in (0, 10, 59):
        clock.now_s = now_s
        with pytest.raises(NvmlStartError, match="NVML failed to initialise: GpuIsLost"):
            collector.collect()
    binding.init_error = None
    clock.now_s = 60
    assert len(collector.collect().devices) == 1
    collector.close()


def test_a_gpu_lost_before_start_keeps_its_place_and_the_others_report() -> None:
    gpus = [FakeGpu(uuid="GPU-ok"), FakeGpu(failures={"uuid": fake.NVMLError_GpuIsLost})]
    collector = GpuCollector(FakeNvml(gpus))
    sample = collector.collect()
    collector.close()
    healthy, lost = sample.devices
    assert healthy.uuid == "GPU-ok" and healthy.success
    assert (lost.index, lost.uuid, lost.success) == (1, "unknown-1", False)
    assert lost.error == "NVMLError_GpuIsLost: GpuIsLost"


def test_a_device_count_that_fails_is_a_failure_and_is_retried() -> None:
    binding = FakeNvml([FakeGpu()])
    clock = Clock()
    collector = GpuCollector(binding, retry_s=60, clock=clock)
    real_count = binding.nvmlDeviceGetCount

    def lost_count() -> int:
        raise fake.NVMLError_GpuIsLost()

    binding.nvmlDeviceGetCount = lost_count  # type: ignore[method-assign]
    with pytest.raises(NvmlStartError, match="failed to list its devices"):
        collector.collect()
    assert binding.shutdown_calls == 1
    binding.nvmlDeviceGetCount = real_count  # type: ignore[method-assign]
    clock.now_s = 60
    assert len(collector.collect().devices) == 1
    collector.close()


def test_closing_during_a_slow_start_leaves_nvml_shut_down() -> None:
    binding = FakeNvml([FakeGpu()])
    collector = GpuCollector(binding)
    real_init = binding.nvmlInit

    def init_while_closing() -> None:
        real_init()
        collector.close()  # the agent stops while nvmlInit was still running

    binding.nvmlInit = init_while_closing  # type: ignore[method-assign]
    collector.collect()
    assert binding.init_calls == 1 and binding.shutdown_calls == 1


@pytest.mark.parametrize("name", [
    name for name in dir(FakeNvml) if name.startswith(("nvml", "NVML"))
])
def test_the_fake_only_offers_what_the_real_binding_has(name: str) -> None:
    assert hasattr(pynvml, name), f"pynvml has no {name}; the fake has drifted"


@pytest.mark.parametrize("name", [
    name for name in dir(fake) if name.startswith(("NVML_", "nvmlEventType", "nvmlClocks"))
])
def test_the_fakes_constants_are_the_real_bindings(name: str) -> None:
    assert getattr(fake, name) == getattr(pynvml, name)


@pytest.mark.parametrize("name", [name for name in dir(fake) if name.startswith("NVMLError_")])
def test_the_fakes_error_codes_are_the_real_bindings(name: str) -> None:
    assert getattr(fake, name).value == getattr(pynvml, name)(None).value


def test_on_this_host_without_a_driver_the_real_binding_means_no_gpu() -> None:
    collector = GpuCollector()  # the production path: imports nvidia-ml-py's pynvml
    sample = collector.collect()
    collector.close()
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        assert sample.devices == () and not sample.nvml_available
    else:  # a machine with a driver: the collector saw what NVML sees
        assert len(sample.devices) == pynvml.nvmlDeviceGetCount()
        pynvml.nvmlShutdown()
