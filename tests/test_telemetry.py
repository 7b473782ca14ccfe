from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from polyad.snapshot import Snapshot
from polyad.telemetry import Telemetry
from tests.fakes.samples import full_snapshot


def values(text: bytes) -> dict[str, float]:
    return {s.name + str(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(text.decode())
            for s in family.samples}


def test_two_instances_in_one_process_do_not_collide() -> None:
    busy: Snapshot = full_snapshot()
    idle_gpu = full_snapshot(gpus=())
    first, second = Telemetry(lambda: busy), Telemetry(lambda: idle_gpu)
    first_values = values(first.render("")[0])
    second_values = values(second.render("")[0])
    assert "hw_gpu_utilization_ratio[('gpu', '0'), ('uuid', 'GPU-00000000')]" in first_values
    assert not any(name.startswith("hw_gpu_utilization") for name in second_values)
    first.shutdown()
    second.shutdown()


def test_percentages_become_ratios_and_megahertz_hertz() -> None:
    snapshot = full_snapshot()
    telemetry = Telemetry(lambda: snapshot)
    exposed = values(telemetry.render("")[0])
    assert "system_cpu_utilization_ratio[]" not in exposed  # the total: avg() of the CPUs'
    assert exposed["system_cpu_utilization_ratio[('cpu_logical_number', '1')]"] == \
        pytest.approx(0.40)
    assert exposed["polyad_cpu_temperature_celsius[]"] == 55.0
    assert exposed["polyad_gpu_clock_sm_hertz[('gpu', '0'), ('uuid', 'GPU-00000000')]"] == 1.98e9
    assert exposed["system_network_io_bytes_total[('network_interface_name', 'eth0'), "
                   "('network_io_direction', 'receive')]"] == 2000.0
    assert exposed["hw_temperature_celsius[('chip', 'coretemp'), ('sensor', 'Core 0')]"] == 53.0
    telemetry.shutdown()


def test_a_new_tick_renders_anew_and_the_same_tick_reuses_the_body() -> None:
    current = {"snapshot": full_snapshot(seq=1)}
    telemetry = Telemetry(lambda: current["snapshot"])
    first, content_type = telemetry.render("")
    assert telemetry.render("")[0] is first
    openmetrics, om_type = telemetry.render("application/openmetrics-text; version=1.0.0")
    assert om_type.startswith("application/openmetrics-text") and openmetrics is not first
    current["snapshot"] = full_snapshot(seq=2)
    assert telemetry.render("")[0] is not first
    assert content_type.startswith("text/plain")
    telemetry.shutdown()
