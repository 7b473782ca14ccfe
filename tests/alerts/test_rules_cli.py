"""`polyad rules check` and `polyad rules export`, run as an operator runs them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.promtool import promtool
from tests.test_cli import run_cli
from tests.test_config import billion_laughs

GOOD = """\
groups:
  - name: host
    rules:
      - {alert: HostHighCpu, metric: cpu.usage, op: ">", threshold: 90, for: 5m}
      - {alert: HostHighMemory, metric: memory.usage, op: ">", threshold: 90}
"""


def test_check_without_files_checks_the_builtin_rules(tmp_path: Path) -> None:
    result = run_cli("rules", "check", tmp_path=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (
        0, "16 rules in 4 groups OK\n", "")


def test_check_counts_the_rules_of_the_files_given(tmp_path: Path) -> None:
    (tmp_path / "host.yml").write_text(GOOD)
    (tmp_path / "none.yml").write_text("groups: []\n")
    result = run_cli("rules", "check", str(tmp_path / "host.yml"), str(tmp_path / "none.yml"),
                     tmp_path=tmp_path)
    assert (result.returncode, result.stdout) == (0, "2 rules in 1 groups OK\n")


def test_check_lists_every_error_of_every_file_one_per_line(tmp_path: Path) -> None:
    first, second = tmp_path / "first.yml", tmp_path / "second.yml"
    first.write_text(GOOD.replace("cpu.usage", "cpu.usag").replace("for: 5m", "for: soon"))
    second.write_text(GOOD.replace("HostHighCpu", "Other").replace("name: host", "name: two"))
    result = run_cli("rules", "check", str(first), str(second), str(tmp_path / "gone.yml"),
                     tmp_path=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert "Traceback" not in result.stderr
    assert [line.split(": ", 2)[:2] for line in result.stderr.splitlines()] == [
        [f"{first}:4", "group host, rule HostHighCpu, field metric"],
        [f"{first}:4", "group host, rule HostHighCpu, field for"],
        [f"{tmp_path / 'gone.yml'}", "cannot read it"],
        [f"{second}:5", "group two, rule HostHighMemory, field alert"],
    ]
    assert "closest: cpu.usage" in result.stderr
    assert f"defined before at {first}:5" in result.stderr


def test_check_refuses_an_alias_bomb_in_one_line(tmp_path: Path) -> None:
    bomb = tmp_path / "laughs.yml"
    bomb.write_text("groups: []\nx-laughs:\n" + billion_laughs("  "))
    result = run_cli("rules", "check", str(bomb), tmp_path=tmp_path, memory_limit_bytes=1 << 30)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(f"{bomb}:3: &a: anchors and aliases are not allowed")
    assert len(result.stderr.splitlines()) == 1


def test_export_prints_prometheus_rules_that_promtool_accepts(tmp_path: Path) -> None:
    result = run_cli("rules", "export", "--format", "prometheus", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    rules = tmp_path / "prometheus.yml"
    rules.write_text(result.stdout)
    checked = subprocess.run([promtool(), "check", "rules", str(rules)], capture_output=True,
                             text=True, timeout=30, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 16 rules found" in checked.stdout


def test_export_of_files_given_defaults_to_prometheus(tmp_path: Path) -> None:
    (tmp_path / "host.yml").write_text(GOOD)
    result = run_cli("rules", "export", str(tmp_path / "host.yml"), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    (group,) = yaml.safe_load(result.stdout)["groups"]
    assert [rule["expr"] for rule in group["rules"]] == [
        "avg without (cpu_logical_number) (system_cpu_utilization_ratio) > 0.9",
        "system_memory_utilization_ratio > 0.9"]


def test_export_refuses_rules_prometheus_cannot_compute(tmp_path: Path) -> None:
    (tmp_path / "net.yml").write_text(GOOD.replace("cpu.usage", "network.upload_bps"))
    result = run_cli("rules", "export", str(tmp_path / "net.yml"), tmp_path=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{tmp_path / 'net.yml'}:4: group host, rule HostHighCpu, field "
                           "metric: network.upload_bps has no Prometheus equivalent")


def test_export_refuses_an_unknown_format(tmp_path: Path) -> None:
    result = run_cli("rules", "export", "--format", "nagios", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "invalid choice: 'nagios'" in result.stderr
