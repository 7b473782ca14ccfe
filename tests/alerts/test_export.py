"""`export_prometheus`: rules promtool accepts, on series /metrics/prom really has, firing in
Prometheus (promtool's rule tests) with the labels and annotations the engine gives."""

from __future__ import annotations

import re
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from polyad.alerts.export import export_prometheus, prometheus_name
from polyad.alerts.rules import RuleError, builtin_rule_files, load_rules, render_template
from polyad.catalog import by_path, catalog, label_name
from polyad.telemetry import Telemetry
from tests.api.test_prometheus import scrape_after_cpu_is_measured
from tests.conftest import MakeClient
from tests.fakes.samples import full_snapshot
from tests.promtool import promtool, run_rule_tests
from tests.test_readme import every_source

# polyad sums physical NICs only, which the exposition cannot tell apart
NO_PROMQL = {"network.upload_bps", "network.download_bps"}


def exported(text: str, tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "rules.yml"
    path.write_text(textwrap.dedent(text))
    document: dict[str, Any] = yaml.safe_load(export_prometheus(load_rules([path])))
    return document


def check_rules(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "prometheus-rules.yml"
    path.write_text(text)
    return subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=30, check=False)


def every_path_rules(tmp_path: Path) -> Path:
    """A rule on each catalog path Prometheus can compute and a rule may compare (a counter's
    total since start is not a level), with every template name."""
    levels = {path for path, spec in by_path().items() if spec.kind != "counter"}
    rules = []
    for index, path in enumerate(sorted(levels - NO_PROMQL)):
        devices = " ".join(f"{{{{ {label_name(label)} }}}}" for label in by_path()[path].labels)
        rules.append({"alert": f"Metric{index}", "metric": path, "op": ">", "threshold": 1,
                      "for": "90s", "keep_firing_for": "500ms", "labels": {"severity": "info"},
                      "annotations": {"summary": f"{{{{ value }}}} on {{{{ host }}}} {devices}"}})
    file = tmp_path / "every.yml"
    file.write_text(yaml.safe_dump({"groups": [{"name": "catalog", "interval": "10s",
                                                "rules": rules}]}))
    return file


def series_names(expr: str) -> set[str]:
    """The series an expression reads: not functions, grouping labels, matchers or ranges."""
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\b(?:without|by)\s*\([^)]*\)", "", expr)
    return set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()", bare))


def test_series_names_are_derived_as_the_exporter_derives_them() -> None:
    snapshot = full_snapshot()
    telemetry = Telemetry(lambda: snapshot)
    text = telemetry.render("")[0].decode()
    telemetry.shutdown()
    families = {family.name + ("_total" if family.type == "counter" else "")
                for family in text_string_to_metric_families(text)}
    # the agent's own series, which no catalog entry declares
    from_the_catalog = {name for name in families
                        if name != "polyad_build_info" and not name.startswith("process_")}
    assert {prometheus_name(spec) for spec in catalog() if spec.otel_name} == from_the_catalog


def test_the_builtin_rules_pass_promtool(tmp_path: Path) -> None:
    text = export_prometheus(load_rules(builtin_rule_files()))
    result = check_rules(text, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    rules = {rule["alert"]: rule for group in yaml.safe_load(text)["groups"]
             for rule in group["rules"]}
    assert rules["HostHighCpu"]["expr"] == (
        "avg without (cpu_logical_number) (system_cpu_utilization_ratio) > 0.9")
    assert rules["HostMemoryCritical"]["expr"] == "system_memory_utilization_ratio > 0.97"
    assert rules["GpuMemoryFull"]["expr"] == "hw_gpu_memory_utilization_ratio > 0.95"
    assert rules["GpuHot"]["expr"] == "polyad_gpu_temperature_celsius > 85"
    assert rules["GpuLost"]["expr"] == "polyad_gpu_success == 0"
    assert "for" not in rules["GpuLost"]
    assert rules["HostHighCpu"]["for"] == "5m"
    assert rules["HostHighCpu"]["labels"] == {"severity": "warning"}


def test_a_rule_on_every_catalog_path_passes_promtool(tmp_path: Path) -> None:
    text = export_prometheus(load_rules([every_path_rules(tmp_path)]))
    result = check_rules(text, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "keep_firing_for needs Prometheus 2.42" in text
    (group,) = yaml.safe_load(text)["groups"]
    assert group["interval"] == "10s"
    assert {(rule["for"], rule["keep_firing_for"]) for rule in group["rules"]} == {
        ("1m30s", "500ms")}


async def test_every_series_in_the_exported_exprs_is_in_the_exposition(
    make_client: MakeClient, tmp_path: Path,
) -> None:
    groups = yaml.safe_load(export_prometheus(load_rules([every_path_rules(tmp_path)])))
    used = {name for group in groups["groups"] for rule in group["rules"]
            for name in series_names(rule["expr"])}
    client = await make_client(use_collectors=every_source(), sampler={"interval": "300ms"})
    text = await scrape_after_cpu_is_measured(client)
    exposed = {sample.name for family in text_string_to_metric_families(text)
               for sample in family.samples}
    assert len(used) > 20
    assert used <= exposed, sorted(used - exposed)


def test_thresholds_are_scaled_as_the_exporter_scales_values(tmp_path: Path) -> None:
    document = exported("""\
        groups:
          - name: scaled
            rules:
              - {alert: A, metric: "gpu.devices[].sm_clock_mhz", op: "<", threshold: 1500}
              - {alert: B, metric: "network.interfaces[].speed_bps", op: "<", threshold: 1e9}
              - {alert: C, metric: gpu.usage, op: ">=", threshold: 95}
              - {alert: D, metric: gpu.temperature, op: ">", threshold: 80}
              - {alert: E, metric: "network.interfaces[].upload_bps", op: ">", threshold: 8e8}
              - {alert: F, metric: "cpu.cores[].usage", op: "!=", threshold: 33}
    """, tmp_path)
    assert [rule["expr"] for rule in document["groups"][0]["rules"]] == [
        "polyad_gpu_clock_sm_hertz < 1500000000",
        "polyad_network_link_speed_bytes_per_second < 125000000",
        "avg without (gpu, uuid) (hw_gpu_utilization_ratio) >= 0.95",
        "max without (gpu, uuid) (polyad_gpu_temperature_celsius) > 80",
        'rate(system_network_io_bytes_total{network_io_direction="transmit"}[2m]) * 8 > 800000000',
        "system_cpu_utilization_ratio != 0.33",
    ]


@pytest.mark.parametrize("path", sorted(NO_PROMQL))
def test_a_metric_prometheus_cannot_compute_is_an_error(tmp_path: Path, path: str) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(f'groups: [{{name: net, rules: [{{alert: Busy, metric: {path}, op: ">", '
                     "threshold: 1}]}]\n")
    with pytest.raises(RuleError) as raised:
        export_prometheus(load_rules([rules]))
    (error,) = raised.value.errors
    assert error.startswith(f"{rules}:1: group net, rule Busy, field metric: {path} has no "
                            "Prometheus equivalent: the agent sums physical interfaces only")


UNIT_TEST = """\
rule_files: [prometheus-rules.yml]
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - series: 'polyad_gpu_temperature_celsius{instance="h1:5000",job="polyad",gpu="0",
                                                uuid="GPU-0"}'
        values: '90x40'
      - series: 'polyad_gpu_temperature_celsius{instance="h1:5000",job="polyad",gpu="1",
                                                uuid="GPU-1"}'
        values: '60x40'
      - series: 'system_cpu_utilization_ratio{instance="h1:5000",job="polyad",
                                              cpu_logical_number="0"}'
        values: '0.93x40'
      - series: 'system_cpu_utilization_ratio{instance="h1:5000",job="polyad",
                                              cpu_logical_number="1"}'
        values: '0.94x40'
    alert_rule_test: []
"""


def promtool_test(rules_text: str, tests: list[dict[str, Any]], tmp_path: Path) -> None:
    (tmp_path / "prometheus-rules.yml").write_text(rules_text)
    unit = yaml.safe_load(UNIT_TEST)
    unit["tests"][0]["alert_rule_test"] = tests
    run_rule_tests(unit, tmp_path)


GPU_0 = {"instance": "h1:5000", "job": "polyad", "gpu": "0", "uuid": "GPU-0"}


def test_builtin_alerts_fire_in_prometheus_after_for_with_the_engine_s_text(
    tmp_path: Path,
) -> None:
    promtool_test(export_prometheus(load_rules(builtin_rule_files())), [
        {"eval_time": "1m45s", "alertname": "GpuHot", "exp_alerts": []},
        {"eval_time": "2m", "alertname": "GpuHot", "exp_alerts": [{
            "exp_labels": {"severity": "warning", **GPU_0},
            "exp_annotations": {
                "summary": "GPU 0 at 90°C on h1:5000",
                "description": "GPU 0 (GPU-0) has been above 85°C for 2 minutes; it may "
                               "throttle."}}]},
        {"eval_time": "4m45s", "alertname": "HostHighCpu", "exp_alerts": []},
        {"eval_time": "5m", "alertname": "HostHighCpu", "exp_alerts": [{
            "exp_labels": {"severity": "warning", "instance": "h1:5000", "job": "polyad"},
            "exp_annotations": {
                "summary": "CPU at 93.5% on h1:5000",
                "description": "CPU usage, all cores together, has been above 90% for 5 "
                               "minutes."}}]},
    ], tmp_path)


def test_templates_render_in_prometheus_as_the_engine_renders_them(tmp_path: Path) -> None:
    summary = ("{{ alertname }}/{{ severity }} {{ unknown }} {braces} {{{ value }}} "
               "{{ gpu }}@{{ host }} {{ instance }}")
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "templates", "rules": [{
        "alert": "GpuWarm", "metric": "gpu.devices[].temperature", "op": ">", "threshold": 70,
        "labels": {"severity": "page {now}"}, "annotations": {"summary": summary}}]}]}))
    # what the engine gives its templates: the alert's labels, the value and the host
    labels = {"alertname": "GpuWarm", "severity": "page {now}", **GPU_0}
    engine_text = render_template(summary, {**labels, "value": "90", "host": "h1:5000"})
    assert engine_text == "GpuWarm/page {now} {{ unknown }} {braces} {90} 0@h1:5000 h1:5000"
    promtool_test(export_prometheus(load_rules([rules])), [
        {"eval_time": "0m", "alertname": "GpuWarm", "exp_alerts": [{
            "exp_labels": {key: value for key, value in labels.items() if key != "alertname"},
            "exp_annotations": {"summary": engine_text}}]},
    ], tmp_path)
