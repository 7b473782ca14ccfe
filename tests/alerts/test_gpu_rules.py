"""The GPU health rules on the fake NVML's GPUs (tests/fakes/nvml.py): GpuEccUncorrected through
the agent's engine, and, on the series the agent exposes for those GPUs, GpuXidError and
GpuThrottled (Prometheus' only: deploy/prometheus/rules/polyad-prometheus-only.yml) through
`promtool test rules`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from polyad.alerts.engine import AlertEngine
from polyad.alerts.export import export_prometheus
from polyad.alerts.rules import builtin_rule_files, load_rules
from polyad.collectors.gpu import GpuCollector
from polyad.snapshot import CollectorReport, Snapshot
from polyad.telemetry import Telemetry
from tests.fakes import nvml as fake
from tests.fakes.clock import FakeClock
from tests.fakes.nvml import FakeGpu, FakeNvml
from tests.promtool import run_rule_tests

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"
UNCORRECTED_VOLATILE = (fake.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, fake.NVML_VOLATILE_ECC)
HOST = {"instance": "h1", "job": "polyad"}
FAULTY_UUID = "GPU-00000000-1111-2222-3333-444444444444"


def faulty_gpu() -> FakeGpu:
    """Two uncorrected ECC errors since the driver loaded, too hot (and at its power cap)."""
    gpu = FakeGpu(clocks_event_reasons=(fake.nvmlClocksEventReasonHwThermalSlowdown
                                        | fake.nvmlClocksEventReasonSwPowerCap))
    gpu.ecc[UNCORRECTED_VOLATILE] = 2
    return gpu


@pytest.fixture
def nvml() -> Iterator[tuple[FakeNvml, GpuCollector]]:
    """GPU 0 faulty, GPU 1 healthy (at its power cap only, as a busy GPU is), on a collector
    closed after the test (so that its XID watch does not outlive it)."""
    binding = FakeNvml([faulty_gpu(), FakeGpu(uuid="GPU-1")])
    collector = GpuCollector(binding, xid_wait_ms=50)
    yield binding, collector
    collector.close()


def snapshot_of(collector: GpuCollector, seq: int = 1) -> Snapshot:
    now = datetime.now(UTC)
    return Snapshot(seq=seq, taken_at=now, monotonic_s=float(seq), started_at=now,
                    reports={"gpu": CollectorReport("gpu", "ok", 0.001)},
                    samples={"gpu": collector.collect()})


def test_uncorrected_ecc_errors_fire_at_once_for_that_gpu_only(
    nvml: tuple[FakeNvml, GpuCollector],
) -> None:
    _, collector = nvml
    groups = load_rules(builtin_rule_files())
    snapshot = snapshot_of(collector)
    engine = AlertEngine(groups, instance="host-1", default_interval_s=15,
                         snapshot=lambda: snapshot, listener=lambda *_: None, clock=FakeClock())
    for group in groups:
        engine.evaluate(group, snapshot)
    (alert,) = [alert for alert in engine.active() if alert.name == "GpuEccUncorrected"]
    assert (alert.state, alert.value) == ("firing", 2.0)
    assert alert.labels == {"alertname": "GpuEccUncorrected", "instance": "host-1",
                            "severity": "critical", "gpu": "0", "uuid": FAULTY_UUID}
    assert alert.annotations()["summary"] == (
        "GPU 0 has 2 uncorrected memory errors on host-1")


# -- in Prometheus, on the series the agent exposes -----------------------------------------
def exposed(snapshot: Snapshot) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The GPU samples of /metrics/prom for that snapshot, by name and labels."""
    telemetry = Telemetry(lambda: snapshot)
    text = telemetry.render("")[0].decode()
    telemetry.shutdown()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples
            if sample.name.startswith(("polyad_gpu_", "hw_gpu_"))}


def input_series(before: dict[Any, float], after: dict[Any, float]) -> list[dict[str, str]]:
    """Each series as scraped every minute: `before` for 5 minutes, then `after` for 20."""
    found = []
    for name, labels in sorted(before.keys() | after.keys()):
        inner = ",".join(f'{label}="{value}"' for label, value in (*labels, *HOST.items()))
        values = " ".join(f"{value:g}x{count}" if (value := side.get((name, labels))) is not None
                          else f"_x{count}" for side, count in ((before, 4), (after, 20)))
        found.append({"series": f"{name}{{{inner}}}", "values": values})
    return found


def promtool_test(series: list[dict[str, str]], tests: list[dict[str, Any]],
                  tmp_path: Path) -> None:
    (tmp_path / "polyad.yml").write_text(export_prometheus(load_rules(builtin_rule_files())))
    unit = {"rule_files": ["polyad.yml", str(RULES / "polyad-prometheus-only.yml")],
            "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": tests}]}
    run_rule_tests(unit, tmp_path)


def gpu_series_around_an_xid(binding: FakeNvml, collector: GpuCollector) -> list[dict[str, str]]:
    """The agent's GPU series, then the same once the driver reported XID 79 on GPU 0."""
    before = exposed(snapshot_of(collector, seq=1))
    binding.emit_xid(0, 79)
    assert binding.event_sets[0].wait_handled(1), "the XID watch did not take the XID"
    after = exposed(snapshot_of(collector, seq=2))
    assert after[("polyad_gpu_xid_errors_total", (("gpu", "0"), ("uuid", FAULTY_UUID)))] == 1
    return input_series(before, after)


GPU_0 = {**HOST, "gpu": "0", "uuid": FAULTY_UUID}


def test_an_xid_and_thermal_throttling_fire_in_prometheus_for_that_gpu_only(
    nvml: tuple[FakeNvml, GpuCollector], tmp_path: Path,
) -> None:
    promtool_test(gpu_series_around_an_xid(*nvml), [
        # the XID comes in the sample at 5m, and counts for the 10 minutes after it
        {"eval_time": "4m", "alertname": "GpuXidError", "exp_alerts": []},
        {"eval_time": "5m", "alertname": "GpuXidError", "exp_alerts": [{
            "exp_labels": {**GPU_0, "severity": "warning"},
            "exp_annotations": {
                "summary": "GPU 0 reported XID errors on h1",
                "description": f"The NVIDIA driver reported XID errors on GPU 0 ({FAULTY_UUID}) "
                               "in the last 10 minutes: a fault of the GPU, its memory or its "
                               "bus, or of the application using it. The codes are in GET "
                               "/metrics (gpu.devices[].xid_errors) and "
                               "polyad_gpu_xid_errors_by_code_total; the kernel log has the "
                               "details."}}]},
        {"eval_time": "16m", "alertname": "GpuXidError", "exp_alerts": []},
        # hot for 5 minutes; the power cap both GPUs are at is no alert
        {"eval_time": "4m", "alertname": "GpuThrottled", "exp_alerts": []},
        {"eval_time": "5m", "alertname": "GpuThrottled", "exp_alerts": [{
            "exp_labels": {**GPU_0, "reason": "hw_thermal_slowdown", "severity": "warning"},
            "exp_annotations": {
                "summary": "GPU 0 slowed down by hw_thermal_slowdown on h1",
                "description": f"For 5 minutes, GPU 0 ({FAULTY_UUID}) has run at lower clocks "
                               "because of hw_thermal_slowdown: too hot (thermal), or braked "
                               "by its board or power supply (hw_slowdown, "
                               "hw_power_brake_slowdown). Check its cooling and power."}}]},
    ], tmp_path)


def test_uncorrected_ecc_errors_fire_in_prometheus_for_that_gpu_only_with_the_agent_s_labels(
    nvml: tuple[FakeNvml, GpuCollector], tmp_path: Path,
) -> None:
    # Prometheus' copy carries the agent's labels, not the ECC family's error_type and scope
    promtool_test(gpu_series_around_an_xid(*nvml), [
        {"eval_time": "0m", "alertname": "GpuEccUncorrected", "exp_alerts": [{
            "exp_labels": {**GPU_0, "severity": "critical"},
            "exp_annotations": {
                "summary": "GPU 0 has 2 uncorrected memory errors on h1",
                "description": f"ECC found 2 errors it could not correct in the memory of GPU 0 "
                               f"({FAULTY_UUID}) since the driver loaded: what ran there may "
                               "have read corrupt data. Drain the GPU and reset it (the count "
                               "starts again then); XIDs 48, 63, 64, 94 or 95 in the kernel "
                               "log say more."}}]},
    ], tmp_path)

