"""The alert engine's states with a clock the test moves: pending for `for`, firing, hysteresis
on the way down, one alert per device, silence for metrics the host cannot give, reloads."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from polyad.alerts.engine import Alert, AlertEngine, Event
from polyad.alerts.rules import Rule, RuleGroup
from polyad.collectors import CpuSample
from polyad.snapshot import Snapshot
from tests.fakes.clock import FakeClock
from tests.fakes.samples import full_snapshot, gpu_device, with_sample


def rule(alert: str = "HostHighCpu", metric: str = "cpu.usage", op: str = ">",
         threshold: float = 90, **overrides: Any) -> Rule:
    fields: dict[str, Any] = {
        "group": "host", "alert": alert, "metric": metric, "op": op, "threshold": threshold,
        "for_s": 0.0, "keep_firing_for_s": 0.0, "labels": {"severity": "warning"},
        "annotations": {"summary": "{{ alertname }} at {{ value }} on {{ host }}"},
        "interval_s": None, "source": "host.yml:3", **overrides}
    return Rule(**fields)


def group(*rules: Rule) -> RuleGroup:
    return RuleGroup(name="host", interval_s=None, rules=rules, source="host.yml:1")


def cpu_at(percent: float) -> Snapshot:
    snapshot = full_snapshot()
    cpu = snapshot.sample("cpu", CpuSample)
    assert cpu is not None
    return with_sample(snapshot, "cpu", replace(cpu, usage_percent=percent))


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[Event, str, str]] = []

    def __call__(self, event: Event, alert: Alert) -> None:
        self.events.append((event, alert.name, alert.state))

    def changes(self) -> list[Event]:
        return [event for event, *_ in self.events if event != "firing_still"]


def engine_of(*rules: Rule) -> tuple[AlertEngine, Recorder, FakeClock]:
    recorder, clock = Recorder(), FakeClock()
    engine = AlertEngine([group(*rules)], instance="host-1", default_interval_s=15,
                         snapshot=lambda: None, listener=recorder, clock=clock)
    return engine, recorder, clock


def test_pending_for_the_for_duration_then_firing_then_resolved() -> None:
    engine, recorder, clock = engine_of(rule(for_s=120))
    high = group(rule(for_s=120))
    engine.evaluate(high, cpu_at(95))
    assert [alert.state for alert in engine.active()] == ["pending"]
    clock.advance(119)
    engine.evaluate(high, cpu_at(96))
    assert engine.active()[0].state == "pending"
    clock.advance(1)
    engine.evaluate(high, cpu_at(97))
    firing = engine.active()[0]
    assert (firing.state, firing.value, firing.fired_at_s) == ("firing", 97.0, clock.now_s)
    assert firing.labels == {"alertname": "HostHighCpu", "instance": "host-1",
                             "severity": "warning"}
    assert firing.annotations() == {"summary": "HostHighCpu at 97 on host-1"}
    engine.evaluate(high, cpu_at(10))
    assert engine.active() == []
    assert recorder.changes() == ["pending", "firing", "resolved"]


def test_a_condition_that_clears_while_pending_never_fires() -> None:
    engine, recorder, clock = engine_of()
    slow = group(rule(for_s=60))
    engine.evaluate(slow, cpu_at(95))
    clock.advance(30)
    engine.evaluate(slow, cpu_at(50))
    assert engine.active() == [] and recorder.changes() == ["pending", "inactive"]


def test_keep_firing_for_holds_a_flapping_alert() -> None:
    engine, recorder, clock = engine_of()
    sticky = group(rule(keep_firing_for_s=60))
    engine.evaluate(sticky, cpu_at(95))
    clock.advance(15)
    engine.evaluate(sticky, cpu_at(50))  # clear, but not for long enough
    clock.advance(15)
    engine.evaluate(sticky, cpu_at(95))  # back: the clear spell starts over
    clock.advance(15)
    engine.evaluate(sticky, cpu_at(50))
    clock.advance(59)
    engine.evaluate(sticky, cpu_at(50))
    assert [alert.state for alert in engine.active()] == ["firing"]
    clock.advance(1)
    engine.evaluate(sticky, cpu_at(50))
    assert engine.active() == []
    assert recorder.changes() == ["pending", "firing", "resolved"]


def test_one_alert_per_device_labelled_with_it() -> None:
    engine, _, _ = engine_of()
    hot = group(rule("GpuHot", "gpu.devices[].temperature", threshold=80))
    snapshot = full_snapshot(gpus=(gpu_device(0, temperature_celsius=85.0),
                                   gpu_device(1, temperature_celsius=60.0),
                                   gpu_device(2, temperature_celsius=90.0)))
    engine.evaluate(hot, snapshot)
    assert [(alert.labels["gpu"], alert.labels["uuid"], alert.value)
            for alert in engine.active()] == [("0", "GPU-00000000", 85.0),
                                              ("2", "GPU-00000002", 90.0)]


def test_a_metric_this_host_cannot_give_leaves_its_rule_inactive() -> None:
    engine, recorder, _ = engine_of()
    snapshot = with_sample(full_snapshot(gpus=()), "cpu", CpuSample(
        usage_percent=None, core_usage_percent=(), load_average=None))
    engine.evaluate(group(rule("GpuHot", "gpu.devices[].temperature", threshold=0),
                          rule()), snapshot)
    assert engine.active() == [] and recorder.events == []


def test_ops_compare_as_written() -> None:
    engine, _, _ = engine_of()
    low = group(rule("MemoryLow", "memory.usage", "<=", 50))  # the snapshot holds 50.0
    engine.evaluate(low, full_snapshot())
    assert [alert.name for alert in engine.active()] == ["MemoryLow"]


async def test_a_reload_keeps_alerts_of_kept_rules_and_resolves_the_others() -> None:
    engine, recorder, _ = engine_of()
    both = group(rule(), rule("MemoryHalf", "memory.usage", ">=", 50))
    engine.evaluate(both, cpu_at(95))
    await engine.replace([group(rule(threshold=80, labels={"severity": "critical"}))])
    assert [alert.name for alert in engine.active()] == ["HostHighCpu"]
    assert engine.active()[0].rule.threshold == 80  # the new definition
    assert ("resolved", "MemoryHalf", "firing") in recorder.events
