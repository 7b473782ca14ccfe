"""The shipped filesystem and memory-pressure rules (alerts/storage.yml, alerts/host.yml) fire on
the made-up host (tests/fixtures/host): /home 95% full, /mnt/backup full (and read-only on
purpose: no fault), a USB stick the kernel turned read-only after errors, /tmp out of inodes,
memory under pressure, and its NFS share hung. Through the agent's own engine, with a clock the
test moves through each rule's `for`, and, exported, through promtool's rule tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from polyad.alerts.engine import Alert, AlertEngine
from polyad.alerts.export import export_prometheus
from polyad.alerts.rules import builtin_rule_files, load_rules
from polyad.collectors.filesystem import FilesystemCollector
from polyad.collectors.statfs import StatResult
from polyad.collectors.system import SystemCollector
from polyad.snapshot import CollectorReport, Snapshot
from tests.fakes.clock import FakeClock
from tests.fixtures import make_host
from tests.promtool import run_rule_tests

STORAGE = ("FilesystemAlmostFull", "FilesystemFull", "FilesystemInodesExhausted",
           "FilesystemReadOnly", "FilesystemStale")
PRESSURE = ("HostMemoryPressure", "HostMemoryThrashing")
MOUNTS = {  # mount point → (device, type), as the made-up host's mountinfo has them
    "/home": ("/dev/mapper/vg0-home", "xfs"),
    "/mnt/backup": ("/dev/sdb1", "ext4"),
    "/tmp": ("tmpfs", "tmpfs"),
    "/srv/share": ("nas:/export/share", "nfs4"),
    "/media/usb stick": ("/dev/sdc1", "vfat"),
}
# What fires on the made-up host, and after how long; nothing else does ("/" is 63% full).
EXPECTED = {
    ("FilesystemAlmostFull", "/home"): 300,
    ("FilesystemAlmostFull", "/mnt/backup"): 300,
    ("FilesystemFull", "/mnt/backup"): 120,
    ("FilesystemInodesExhausted", "/tmp"): 300,
    ("FilesystemReadOnly", "/media/usb stick"): 0,
    ("FilesystemStale", "/srv/share"): 60,
    ("HostMemoryPressure", None): 300,
    ("HostMemoryThrashing", None): 120,
}


@pytest.fixture
def made_up_host() -> Iterator[Snapshot]:
    """One tick of the made-up host's filesystems (its NFS share's server gone: its statfs
    hangs until the test ends) and kernel signals."""
    released = threading.Event()

    def statvfs(path: str) -> StatResult:
        if path.endswith("share"):
            released.wait()
        return make_host.statvfs(path)

    procfs, rootfs = make_host.ROOT / "proc", make_host.ROOT / "root"
    collectors = (FilesystemCollector(procfs, rootfs, network=True, network_timeout_s=0.05,
                                      statvfs=statvfs),
                  SystemCollector(procfs))
    samples = {collector.name: collector.collect() for collector in collectors}
    now = datetime.now(UTC)
    yield Snapshot(seq=1, taken_at=now, monotonic_s=0.0, started_at=now,
                   reports={name: CollectorReport(name, "ok", 0.001) for name in samples},
                   samples=samples)
    released.set()  # the hung statfs thread ends with the test


def key(alert: Alert) -> tuple[str, str | None]:
    return alert.name, alert.labels.get("system_filesystem_mountpoint")


def test_the_shipped_rules_fire_on_the_made_up_host_after_their_for(
    made_up_host: Snapshot,
) -> None:
    groups = load_rules(builtin_rule_files())
    clock = FakeClock()
    engine = AlertEngine(groups, instance="host-1", default_interval_s=15,
                         snapshot=lambda: made_up_host, listener=lambda *_: None, clock=clock)
    elapsed_s = 0
    for step_s in (0, 59, 1, 59, 1, 179, 1):
        clock.advance(step_s)
        elapsed_s += step_s
        for group in groups:
            engine.evaluate(group, made_up_host)
        states = {key(alert): alert.state for alert in engine.active()}
        assert states == {found: "firing" if elapsed_s >= for_s else "pending"
                          for found, for_s in EXPECTED.items()}, f"after {elapsed_s} s"


def test_each_alert_names_its_mount_and_says_what_is_wrong(made_up_host: Snapshot) -> None:
    groups = load_rules(builtin_rule_files())
    engine = AlertEngine(groups, instance="host-1", default_interval_s=15,
                         snapshot=lambda: made_up_host, listener=lambda *_: None,
                         clock=FakeClock())
    for group in groups:
        engine.evaluate(group, made_up_host)
    alerts = {key(alert): alert for alert in engine.active()}
    for (name, mountpoint), alert in alerts.items():
        severity = ("critical" if name in ("FilesystemFull", "FilesystemReadOnly",
                                           "HostMemoryThrashing") else "warning")
        mount = {} if mountpoint is None else {
            "system_filesystem_mountpoint": mountpoint, "system_device": MOUNTS[mountpoint][0],
            "system_filesystem_type": MOUNTS[mountpoint][1]}
        assert alert.labels == {"alertname": name, "instance": "host-1", "severity": severity,
                                **mount}
        assert set(alert.annotations()) == {"summary", "description"}
        for text in alert.annotations().values():
            assert "{{" not in text and (mountpoint is None or mountpoint in text), text
    summaries = {found: alert.annotations()["summary"] for found, alert in alerts.items()}
    assert summaries[("FilesystemAlmostFull", "/home")] == (
        "Filesystem /home 95% full on host-1")
    assert summaries[("FilesystemInodesExhausted", "/tmp")] == (
        "Filesystem /tmp has used 100% of its inodes on host-1")
    assert summaries[("FilesystemReadOnly", "/media/usb stick")] == (
        "Filesystem /media/usb stick turned read-only after errors on host-1")
    assert summaries[("FilesystemStale", "/srv/share")] == (
        "Filesystem /srv/share does not answer on host-1")
    assert summaries[("HostMemoryPressure", None)] == (
        "Tasks stalled on memory 32.5% of the time on host-1")
    assert summaries[("HostMemoryThrashing", None)] == (
        "All tasks stalled on memory 12.8% of the time on host-1")


def test_the_exports_compare_the_same_series_with_the_same_thresholds() -> None:
    exported = yaml.safe_load(export_prometheus(load_rules(builtin_rule_files())))
    rules = {rule["alert"]: rule for group in exported["groups"] for rule in group["rules"]}
    assert {name: (rules[name]["expr"], rules[name].get("for"), rules[name]["labels"]["severity"])
            for name in (*STORAGE, *PRESSURE)} == {
        "FilesystemAlmostFull": ("system_filesystem_utilization_ratio > 0.9", "5m", "warning"),
        "FilesystemFull": ("system_filesystem_utilization_ratio > 0.97", "2m", "critical"),
        "FilesystemInodesExhausted": ("polyad_filesystem_inodes_utilization_ratio > 0.95", "5m",
                                      "warning"),
        "FilesystemReadOnly": ("polyad_filesystem_remounted_read_only == 1", None, "critical"),
        "FilesystemStale": ("polyad_filesystem_stale == 1", "1m", "warning"),
        "HostMemoryPressure": ('sum without (resource, kind) (rate(polyad_system_pressure_'
                               'stalled_seconds_total{resource="memory",kind="some"}[1m])) > 0.2',
                               "5m", "warning"),
        "HostMemoryThrashing": ('sum without (resource, kind) (rate(polyad_system_pressure_'
                                'stalled_seconds_total{resource="memory",kind="full"}[1m])) > 0.1',
                                "2m", "critical"),
    }


# -- the same alerts in Prometheus, on the made-up host's series ---------------------------
HOST = {"instance": "h1", "job": "polyad"}


def mount_labels(mountpoint: str) -> dict[str, str]:
    device, fstype = MOUNTS.get(mountpoint, ("/dev/nvme0n1p1", "ext4"))
    return {**HOST, "system_device": device, "system_filesystem_mountpoint": mountpoint,
            "system_filesystem_type": fstype}


def series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{label}="{value}"' for label, value in sorted(labels.items()))
    return {"series": f"{name}{{{inner}}}", "values": values}


def made_up_host_series() -> list[dict[str, str]]:
    """/metrics/prom of the made-up host, every 15 s for 10 minutes (as metrics.prom has it; the
    pressure counters, from the fixture's totals, grow at the share its avg10 says)."""
    utilization = {"/": 0.632, "/home": 0.95, "/mnt/backup": 1.0, "/tmp": 0.001}
    inodes = {"/": 0.237, "/home": 0.001, "/mnt/backup": 0.0, "/tmp": 0.999995}
    remounted = {"/": 0, "/home": 0, "/mnt/backup": 0, "/tmp": 0, "/media/usb stick": 1}
    stale = {"/": 0, "/home": 0, "/mnt/backup": 0, "/tmp": 0, "/srv/share": 1}
    found = [
        *(series("system_filesystem_utilization_ratio", mount_labels(mount), f"{value}x40")
          for mount, value in utilization.items()),
        *(series("polyad_filesystem_inodes_utilization_ratio", mount_labels(mount),
                 f"{value}x40") for mount, value in inodes.items()),
        *(series("polyad_filesystem_remounted_read_only", mount_labels(mount), f"{value}x40")
          for mount, value in remounted.items()),
        *(series("polyad_filesystem_stale", mount_labels(mount), f"{value}x40")
          for mount, value in stale.items()),
    ]
    for kind, total_s, share in (("some", 2.345678, 0.325), ("full", 1.234567, 0.128)):
        found.append(series("polyad_system_pressure_stalled_seconds_total",
                            {**HOST, "resource": "memory", "kind": kind},
                            f"{total_s}+{share * 15:g}x40"))
    return found


def promtool_test(rules: dict[str, Any], tests: list[dict[str, Any]], tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules, allow_unicode=True))
    unit = {"rule_files": ["rules.yml"], "evaluation_interval": "15s", "tests": [{
        "interval": "15s", "input_series": made_up_host_series(), "alert_rule_test": tests}]}
    run_rule_tests(unit, tmp_path)


def exported_rules(*, annotations: bool) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(export_prometheus(load_rules(builtin_rule_files())))
    if not annotations:
        for group in document["groups"]:
            for rule in group["rules"]:
                rule.pop("annotations", None)
    return document


def firing_at(eval_time: str, alertname: str, *alerts: dict[str, Any]) -> dict[str, Any]:
    return {"eval_time": eval_time, "alertname": alertname, "exp_alerts": list(alerts)}


def test_the_exported_rules_fire_in_prometheus_on_the_made_up_host_s_series(
    tmp_path: Path,
) -> None:
    def on(mountpoint: str, severity: str = "warning") -> dict[str, Any]:
        return {"exp_labels": {**mount_labels(mountpoint), "severity": severity}}

    # Prometheus' copy of a pressure alert carries the agent's labels, not the counter's
    promtool_test(exported_rules(annotations=False), [
        firing_at("4m45s", "FilesystemAlmostFull"),
        firing_at("5m", "FilesystemAlmostFull", on("/home"), on("/mnt/backup")),
        firing_at("1m45s", "FilesystemFull"),
        firing_at("2m", "FilesystemFull", on("/mnt/backup", "critical")),
        firing_at("5m", "FilesystemInodesExhausted", on("/tmp")),
        firing_at("0m", "FilesystemReadOnly", on("/media/usb stick", "critical")),
        firing_at("1m", "FilesystemStale", on("/srv/share")),
        # rate() over 1m has a first value at 15s, and the whole rate once it spans a minute
        # (before, it extrapolates from the counter's start): `for` counts from 15s to 1m
        firing_at("5m", "HostMemoryPressure"),
        firing_at("6m", "HostMemoryPressure", {"exp_labels": {**HOST, "severity": "warning"}}),
        firing_at("2m", "HostMemoryThrashing"),
        firing_at("3m", "HostMemoryThrashing", {"exp_labels": {**HOST,
                                                              "severity": "critical"}}),
    ], tmp_path)


def test_exported_filesystem_alerts_read_as_the_engine_s(tmp_path: Path) -> None:
    promtool_test(exported_rules(annotations=True), [
        firing_at("5m", "FilesystemStale", {
            "exp_labels": {**mount_labels("/srv/share"), "severity": "warning"},
            "exp_annotations": {
                "summary": "Filesystem /srv/share does not answer on h1",
                "description": "The network filesystem /srv/share (nas:/export/share) has not "
                               "answered statfs in time for 1 minute: its server may be gone, "
                               "and processes reading it hang."}}),
    ], tmp_path)


def test_exported_pressure_alerts_carry_the_engine_s_labels(tmp_path: Path) -> None:
    promtool_test(exported_rules(annotations=True), [
        firing_at("6m", "HostMemoryPressure", {
            "exp_labels": {**HOST, "severity": "warning"},
            "exp_annotations": {
                "summary": "Tasks stalled on memory 32.5% of the time on h1",
                "description": "For 5 minutes, some task has been waiting for memory (reclaim, "
                               "swap-in, refaults) more than 20% of the time (pressure stall, "
                               '/proc/pressure/memory "some"); work slows down before memory '
                               "usage looks full."}}),
    ], tmp_path)
