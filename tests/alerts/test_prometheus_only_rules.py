"""deploy/prometheus/rules/polyad-prometheus-only.yml, the rules only Prometheus evaluates (a
trend over hours is beyond the agent's engine): FilesystemFillingUp through `promtool test rules`
on made-up series. The GPU ones are tested on the fake NVML's series in test_gpu_rules.py."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from polyad.alerts.rules import builtin_rule_files, load_rules
from tests.promtool import promtool, run_rule_tests

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"
PROMETHEUS_ONLY = RULES / "polyad-prometheus-only.yml"
GB = 10**9
HOST = {"instance": "h1", "job": "polyad"}


def mount(mountpoint: str, device: str) -> dict[str, str]:
    return {**HOST, "system_device": device, "system_filesystem_mountpoint": mountpoint,
            "system_filesystem_type": "ext4"}


# mount → (its labels, share used, read-only, GB free to users at first, GB less an hour)
MOUNTS = {
    # fills at 6 GB an hour: under 4 hours of space left once below 24 GB, at 2h40m
    "/home": (mount("/home", "/dev/sdb1"), 0.9, 0, 40, 6),
    # fills, but would take days: 0.3 GB an hour
    "/": (mount("/", "/dev/sda1"), 0.85, 0, 60, 0.3),
    # fills as fast as /home, but most of it is free
    "/scratch": (mount("/scratch", "/dev/sdc1"), 0.3, 0, 40, 6),
    # read-only: whatever its figures say, nothing fills it
    "/mnt/backup": (mount("/mnt/backup", "/dev/sdd1"), 0.95, 1, 40, 6),
}


def series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{label}="{value}"' for label, value in sorted(labels.items()))
    return {"series": f"{name}{{{inner}}}", "values": values}


def input_series() -> list[dict[str, str]]:
    """Every minute (within Prometheus' 5-minute lookback) for 6h40m, as /metrics/prom names
    the series."""
    found = []
    for labels, used, read_only, free_gb, less_gb_an_hour in MOUNTS.values():
        found += [
            series("system_filesystem_usage_bytes",
                   {**labels, "system_filesystem_state": "free"},
                   f"{free_gb * GB:.0f}-{less_gb_an_hour * GB / 60:.0f}x400"),
            series("system_filesystem_utilization_ratio", labels, f"{used}x400"),
            series("polyad_filesystem_read_only", labels, f"{read_only}x400"),
        ]
    return found


def promtool_test(tests: list[dict[str, Any]], tmp_path: Path) -> None:
    unit = {"rule_files": [str(PROMETHEUS_ONLY)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": input_series(), "alert_rule_test": tests}]}
    run_rule_tests(unit, tmp_path)


def test_promtool_accepts_the_rules() -> None:
    result = subprocess.run([promtool(), "check", "rules", str(PROMETHEUS_ONLY)],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 3 rules found" in result.stdout


def test_a_writable_filesystem_filling_up_within_4_hours_fires_after_an_hour(
    tmp_path: Path,
) -> None:
    home = MOUNTS["/home"][0]
    promtool_test([
        # predicted to fill within 4 hours from 2h40m on; `for` is 1 hour
        {"eval_time": "2h30m", "alertname": "FilesystemFillingUp", "exp_alerts": []},
        {"eval_time": "3h30m", "alertname": "FilesystemFillingUp", "exp_alerts": []},
        {"eval_time": "4h", "alertname": "FilesystemFillingUp", "exp_alerts": [{
            "exp_labels": {**home, "severity": "critical"},
            "exp_annotations": {
                "summary": "Filesystem /home predicted to fill within 4 hours on h1",
                "description": "/home (/dev/sdb1) is 90% full and, at the rate it has filled "
                               "over the last 6 hours, will have no space free to users "
                               "within 4 hours."}}]},
    ], tmp_path)


def test_the_agent_s_engine_has_no_such_rule_and_the_export_leaves_them_alone() -> None:
    document = yaml.safe_load(PROMETHEUS_ONLY.read_text())
    only = {rule["alert"] for group in document["groups"] for rule in group["rules"]}
    builtin = load_rules(builtin_rule_files())
    exported = yaml.safe_load((RULES / "polyad.yml").read_text())["groups"]
    assert only == {"FilesystemFillingUp", "GpuXidError", "GpuThrottled"}
    assert not only & {rule.alert for group in builtin for rule in group.rules}
    assert not only & {rule["alert"] for group in exported for rule in group["rules"]}
    # group names are Prometheus' to tell apart too
    assert not {group["name"] for group in document["groups"]} & {
        group.name for group in builtin}
