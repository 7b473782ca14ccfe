"""Rule files: what the loader accepts, every mistake it reports with its file and line, the
built-in rules, where rule files are found, and the tiny template language."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from polyad.alerts import fields
from polyad.alerts.rules import (
    Rule,
    RuleError,
    builtin_rule_files,
    load_rules,
    render_template,
    resolve_rule_files,
)
from polyad.catalog import MetricSpec, by_path, label_name
from tests.test_config import billion_laughs

ALERT_FIELD = "a name of letters, digits and _, unique across all rule files"
ANY_OP = 'one of > >= < <= == !=, in quotes: op: ">"'
A_NUMBER = "a number, in the metric's unit in GET /metrics"
A_DURATION = "a duration like 0s, 30s or 5m"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(*paths: Path) -> list[str]:
    with pytest.raises(RuleError) as raised:
        load_rules(paths)
    return raised.value.errors


def one_rule(*lines: str) -> str:
    """A file whose one rule, HostHighCpu, starts on line 4 with these lines from line 5."""
    return "groups:\n  - name: host\n    rules:\n      - alert: HostHighCpu\n" + "".join(
        f"        {line}\n" for line in lines)


VALID = ("metric: cpu.usage", 'op: ">"', "threshold: 90")


def test_a_valid_file_loads_into_groups_of_rules(tmp_path: Path) -> None:
    path = write(tmp_path, "host.yml", """\
        groups:
          - name: host
            interval: 15s
            rules:
              - alert: HostHighCpu
                metric: cpu.usage
                op: ">="
                threshold: 90
                for: 2m
                keep_firing_for: 1m30s
                labels: {severity: warning}
                annotations: {summary: "CPU at {{ value }}% on {{ host }}"}
          - name: gpu
            rules:
              - {alert: GpuHot, metric: "gpu.devices[].temperature", op: ">", threshold: 85.5}
          - name: quiet
            rules: []
    """)
    host, gpu, quiet = load_rules([path])
    assert (host.name, host.interval_s, host.source) == ("host", 15.0, f"{path}:2")
    assert host.rules == (Rule(
        group="host", alert="HostHighCpu", metric="cpu.usage", op=">=", threshold=90.0,
        for_s=120.0, keep_firing_for_s=90.0, labels={"severity": "warning"},
        annotations={"summary": "CPU at {{ value }}% on {{ host }}"}, interval_s=15.0,
        source=f"{path}:5"),)
    assert host.rules[0].spec is by_path()["cpu.usage"]
    (gpu_hot,) = gpu.rules
    assert (gpu_hot.for_s, gpu_hot.keep_firing_for_s, gpu_hot.interval_s) == (0.0, 0.0, None)
    assert (gpu_hot.threshold, gpu_hot.labels, gpu_hot.source) == (85.5, {}, f"{path}:15")
    assert gpu_hot.spec.labels == ("gpu", "uuid")
    assert quiet.rules == ()


def test_an_empty_list_of_groups_is_allowed(tmp_path: Path) -> None:
    assert load_rules([write(tmp_path, "none.yml", "groups: []\n")]) == []


@pytest.mark.parametrize(("op", "true_for", "false_for"), [
    (">", 91, 90), (">=", 90, 89.9), ("<", 89, 90), ("<=", 90, 90.1), ("==", 90, 91),
    ("!=", 91, 90),
])
def test_holds_applies_the_operator_to_the_threshold(op: str, true_for: float,
                                                      false_for: float) -> None:
    rule = Rule("host", "A", "cpu.usage", op, 90.0, 0.0, 0.0, {}, {}, None, "f.yml:1")
    assert rule.holds(true_for) and not rule.holds(false_for)


@pytest.mark.parametrize(("lines", "line", "field", "problem"), [
    ((*VALID, "severity: page"), 8, "severity",
     "unknown key (expected one of alert, metric, op, threshold, for, keep_firing_for, labels, "
     "annotations)"),
    (VALID[:2], 4, "threshold", f"missing (expected {A_NUMBER})"),
    (("metric: cpu.usage", 'op: "=>"', "threshold: 90"), 6, "op", f"got '=>' (expected {ANY_OP})"),
    # unquoted, `>` starts a YAML block scalar: op is then empty
    (("metric: cpu.usage", "op: >", "threshold: 90"), 6, "op", f"got '' (expected {ANY_OP})"),
    (("metric: cpu.usage", 'op: ">"', "threshold: high"), 7, "threshold",
     f"got 'high' (expected {A_NUMBER})"),
    (("metric: cpu.usage", 'op: ">"', "threshold: true"), 7, "threshold",
     f"got true (expected {A_NUMBER})"),
    (("metric: cpu.usage", 'op: ">"', "threshold: 90%"), 7, "threshold",
     f"got '90%' (expected {A_NUMBER})"),
    ((*VALID, "for: soon"), 8, "for", f"got 'soon' (expected {A_DURATION})"),
    ((*VALID, "keep_firing_for: -5"), 8, "keep_firing_for", f"got -5 (expected {A_DURATION})"),
    ((*VALID, "labels: {severity: 1}"), 8, "labels.severity",
     "got 1 (expected a string: put it in quotes)"),
    ((*VALID, "labels: [warning]"), 8, "labels",
     "got a list (expected a mapping of label names to strings)"),
    ((*VALID, 'labels: {"bad-name": x}'), 8, "labels.bad-name",
     "'bad-name' is not a name (expected letters, digits and _, not first a digit)"),
    ((*VALID, "labels: {alertname: x}"), 8, "labels.alertname",
     "alertname is reserved (expected a label other than alertname, instance and __*)"),
    ((*VALID, "labels: {instance: x}"), 8, "labels.instance",
     "instance is reserved (expected a label other than alertname, instance and __*)"),
    ((*VALID, "labels: {__meta: x}"), 8, "labels.__meta",
     "__meta is reserved (expected a label other than alertname, instance and __*)"),
    ((*VALID, "annotations: {summary: [a, b]}"), 8, "annotations.summary",
     "got a list (expected a string: put it in quotes)"),
    ((*VALID, "for: 1m", "for: 2m"), 9, "for", "given twice (expected each key once)"),
])
def test_each_mistake_is_one_line_with_file_line_group_rule_and_field(
    tmp_path: Path, lines: tuple[str, ...], line: int, field: str, problem: str,
) -> None:
    path = write(tmp_path, "rules.yml", one_rule(*lines))
    assert errors_of(path) == [f"{path}:{line}: group host, rule HostHighCpu, field {field}: "
                               f"{problem}"]


def test_a_device_label_cannot_be_set_by_the_rule(tmp_path: Path) -> None:
    path = write(tmp_path, "rules.yml", one_rule(
        "metric: gpu.devices[].temperature", 'op: ">"', "threshold: 85", 'labels: {gpu: "0"}'))
    assert errors_of(path) == [
        f"{path}:8: group host, rule HostHighCpu, field labels.gpu: gpu is set per device by the "
        "metric (expected a label other than gpu, uuid)"]


def test_an_invalid_alert_name_and_a_missing_one(tmp_path: Path) -> None:
    path = write(tmp_path, "rules.yml", """\
        groups:
          - name: host
            rules:
              - {alert: "High CPU", metric: cpu.usage, op: ">", threshold: 90}
              - {metric: cpu.usage, op: ">", threshold: 90}
              - just a string
    """)
    assert errors_of(path) == [
        f"{path}:4: group host, rule High CPU, field alert: got 'High CPU' "
        f"(expected {ALERT_FIELD})",
        f"{path}:5: group host, rule #2, field alert: missing (expected {ALERT_FIELD})",
        f"{path}:6: group host, field rules: an entry is 'just a string' "
        "(expected a mapping with alert, metric, op and threshold)"]


def test_an_unknown_metric_names_the_closest_known_paths(tmp_path: Path) -> None:
    path = write(tmp_path, "rules.yml", one_rule(
        "metric: gpu.devices[].temp", 'op: ">"', "threshold: 85"))
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:5: group host, rule HostHighCpu, field metric: unknown "
                            "metric 'gpu.devices[].temp'; closest: gpu.devices[].temperature")
    assert error.endswith("(expected a gauge's path in GET /metrics, like cpu.usage)")


def test_a_far_off_metric_gets_no_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "rules.yml", one_rule("metric: disk.free", 'op: ">"', "threshold: 1"))
    assert "unknown metric 'disk.free' (expected" in errors_of(path)[0]


def test_a_counter_is_not_a_level_to_alert_on(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    uptime = MetricSpec("polyad.uptime", "uptime_seconds", "s", "Seconds since start",
                        lambda _: [], kind="counter")
    monkeypatch.setattr(fields, "_specs", lambda: {**by_path(), "uptime_seconds": uptime})
    path = write(tmp_path, "rules.yml", one_rule(
        "metric: uptime_seconds", 'op: ">"', "threshold: 60"))
    assert errors_of(path) == [
        f"{path}:5: group host, rule HostHighCpu, field metric: uptime_seconds is a counter, a "
        "total since start, not a level to compare (expected a gauge's path in GET /metrics, "
        "like cpu.usage)"]


def test_group_mistakes(tmp_path: Path) -> None:
    path = write(tmp_path, "rules.yml", """\
        groups:
          - name: host
            interval: 0s
            rule: []
          - rules: []
          - 5
    """)
    assert errors_of(path) == [
        f"{path}:2: group host, field rules: missing (expected a list of rules, each with alert, "
        "metric, op and threshold)",
        f"{path}:3: group host, field interval: got '0s' (expected a duration above 0, like 15s "
        "or 1m)",
        f"{path}:4: group host, field rule: unknown key (expected one of name, interval, rules)",
        f"{path}:5: group #2, field name: missing (expected a group name, unique across all rule "
        "files)",
        f"{path}:6: field groups: an entry is 5 (expected a mapping with name and rules)"]


@pytest.mark.parametrize(("text", "expected"), [
    ("", "1: field groups: missing (expected a list of groups, each with a name and rules)"),
    ("# nothing but a comment\n",
     "1: field groups: missing (expected a list of groups, each with a name and rules)"),
    ("groups:\n", "1: field groups: got nothing (expected a list of groups, each with a name and "
                  "rules)"),
    ("- name: host\n", "1: field groups: the file is a list (expected a mapping with groups)"),
    ("groups: []\nrules: []\n", "2: field rules: unknown key (expected one of groups)"),
    ("groups: [\n  - a\n", "2: not valid YAML: expected the node content, but found '-'"),
    ("groups:\n  - name: host\n  rules: []\n",
     "3: not valid YAML: expected <block end>, but found '?'"),
])
def test_file_mistakes(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, "rules.yml", text)
    assert errors_of(path) == [f"{path}:{expected}"]


def test_an_unreadable_file_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yml"
    assert errors_of(missing) == [f"{missing}: cannot read it: No such file or directory"]
    binary = tmp_path / "binary.yml"
    binary.write_bytes(b"groups: [\xff]\n")
    assert errors_of(binary) == [f"{binary}: cannot read it: not UTF-8 text"]


REFUSED = "anchors and aliases are not allowed (polyad refuses them); write the value out in full"


def test_anchors_and_aliases_are_refused_with_their_line(tmp_path: Path) -> None:
    path = write(tmp_path, "rules.yml", one_rule(
        "metric: cpu.usage", 'op: ">"', "threshold: &limit 90") + (
        '      - {alert: HostHighMemory, metric: memory.usage, op: ">", threshold: *limit}\n'))
    assert errors_of(path) == [f"{path}:7: &limit: {REFUSED}"]


def test_an_alias_bomb_is_refused_at_its_first_anchor(tmp_path: Path) -> None:
    path = write(tmp_path, "rules.yml", one_rule(*VALID, "annotations:") + billion_laughs(
        " " * 10) + '      - {alert: Laughs, metric: cpu.usage, op: ">", threshold: *i}\n')
    assert errors_of(path) == [f"{path}:9: &a: {REFUSED}"]


def test_every_mistake_in_every_file_is_reported_at_once(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yml", one_rule("metric: cpu.usage", 'op: ">"', "threshold: x",
                                              "for: never"))
    second = write(tmp_path, "b.yml", "groups: {}\n")
    assert [error.split(": ", 1)[0] for error in errors_of(first, second)] == [
        f"{first}:7", f"{first}:8", f"{second}:1"]


def test_group_and_alert_names_are_unique_across_files(tmp_path: Path) -> None:
    first = write(tmp_path, "first.yml", one_rule(*VALID))
    second = write(tmp_path, "second.yml", """\
        groups:
          - name: other
            rules:
              - {alert: HostHighCpu, metric: memory.usage, op: ">", threshold: 90}
          - name: host
            rules: []
    """)
    assert errors_of(first, second) == [
        f"{second}:4: group other, rule HostHighCpu, field alert: defined before at {first}:4 "
        f"(expected {ALERT_FIELD})",
        f"{second}:5: group host, field name: defined before at {first}:2 (expected a group name, "
        "unique across all rule files)"]


def test_the_builtin_rules_load() -> None:
    paths = builtin_rule_files()
    assert [path.name for path in paths] == ["host.yml", "storage.yml"]
    assert all(path.is_file() for path in paths)
    groups = load_rules(paths)
    assert [group.name for group in groups] == ["host", "gpu", "agent", "filesystem"]
    rules = {rule.alert: rule for group in groups for rule in group.rules}
    assert sorted(rules) == [
        "CollectorFailing", "FilesystemAlmostFull", "FilesystemFull", "FilesystemInodesExhausted",
        "FilesystemReadOnly", "FilesystemStale", "GpuEccUncorrected", "GpuHot", "GpuLost",
        "GpuMemoryFull", "HostCpuHot", "HostHighCpu", "HostHighMemory", "HostMemoryCritical",
        "HostMemoryPressure", "HostMemoryThrashing"]
    assert rules["GpuMemoryFull"].metric == "gpu.devices[].memory_usage"
    assert (rules["HostHighCpu"].threshold, rules["HostHighCpu"].for_s) == (90.0, 300.0)
    assert rules["GpuLost"].labels == {"severity": "critical"}
    for rule in rules.values():
        assert rule.labels["severity"] in ("warning", "critical")
        assert set(rule.annotations) == {"summary", "description"}


def test_the_builtin_templates_name_only_what_the_engine_gives() -> None:
    for group in load_rules(builtin_rule_files()):
        for rule in group.rules:
            # the device's labels as the engine names them: system.device → system_device
            known = {"value": "1", "host": "h",
                     **dict.fromkeys(map(label_name, rule.spec.labels), "d")}
            for text in rule.annotations.values():
                assert "{{" not in render_template(text, known), (rule.alert, text)


def test_no_patterns_means_the_builtin_rules(tmp_path: Path) -> None:
    assert resolve_rule_files([], tmp_path) == builtin_rule_files()


def test_patterns_are_globbed_from_the_base_sorted_and_deduplicated(tmp_path: Path) -> None:
    for name in ("b.yml", "a.yml", "c.yaml", "sub/d.yml"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("groups: []\n")
    (tmp_path / "dir.yml").mkdir()
    resolved = resolve_rule_files(["*.yml", "a.yml", "./b.yml", "**/*.yml", "gone*.yml"],
                                  tmp_path)
    assert resolved == [tmp_path / "a.yml", tmp_path / "b.yml", tmp_path / "sub" / "d.yml"]
    assert resolve_rule_files([str(tmp_path / "*.yaml")], Path("/elsewhere")) == [
        tmp_path / "c.yaml"]


def test_a_plain_path_to_no_file_is_kept_so_that_loading_says_so(tmp_path: Path) -> None:
    (missing,) = resolve_rule_files(["rules/typo.yml"], tmp_path)
    assert missing == tmp_path / "rules" / "typo.yml"
    assert "cannot read it" in errors_of(missing)[0]


@pytest.mark.parametrize(("text", "rendered"), [
    ("CPU at {{ value }}% on {{ host }}", "CPU at 93.5% on web-1"),
    ("{{value}}/{{  gpu  }}", "93.5/0"),
    ("{{ unknown }} and {{ value }}", "{{ unknown }} and 93.5"),
    ("{{ value | humanize }} {{ $value }} { value } {{}}", "{{ value | humanize }} {{ $value }} "
                                                           "{ value } {{}}"),
    ("no placeholders", "no placeholders"),
])
def test_templates_replace_known_names_and_leave_the_rest(text: str, rendered: str) -> None:
    assert render_template(text, {"value": "93.5", "host": "web-1", "gpu": "0"}) == rendered


def test_a_number_in_exponent_form_is_a_number(tmp_path: Path) -> None:
    path = write(tmp_path, "rules.yml", one_rule(
        "metric: network.interfaces[].upload_bps", 'op: ">"', "threshold: 8e8"))
    assert load_rules([path])[0].rules[0].threshold == 8e8
