"""Rule groups as a Prometheus alerting-rules file, on the series `/metrics/prom` exposes.

The same alerts, for a Prometheus that scrapes many agents, written by
`polyad rules export --format prometheus`. Thresholds are in the JSON's unit (percent); the
exposition's may differ (ratio), so each threshold is scaled as the exporter scales the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from polyad.alerts.rules import PLACEHOLDER, Rule, RuleError, RuleGroup
from polyad.catalog import PERCENT, MetricSpec, label_name

# The exposition's own name translation; a test checks every derived name against the live
# exposition.
from polyad.exposition import map_unit, sanitize_full_name

__all__ = ["export_prometheus", "prometheus_name", "promql"]


# polyad sums the physical NICs only (a container's packets also cross its veth and a bridge);
# the exposition does not say which NICs are physical, so no sum over it would be the same.
_NO_PROMQL_NETWORK_SUM = ("the agent sums physical interfaces only, which /metrics/prom does "
                          "not tell apart (expected a per-interface path such as "
                          "network.interfaces[].upload_bps)")

# As the engine writes a value, `f"{value:.4g}"`; Prometheus templates cannot multiply, but
# humanizePercentage turns a ratio back into the JSON's percent (and adds a `%`, dropped here).
_VALUE_AS_IS = '{{ printf "%.4g" $value }}'
_VALUE_AS_PERCENT = '{{ $value | humanizePercentage | reReplaceAll "%$" "" }}'


def prometheus_name(spec: MetricSpec) -> str:
    """The series name of a spec's instrument, derived as the OpenTelemetry exporter derives it:
    the name sanitized, the unit's Prometheus word appended, `_total` for a counter."""
    if spec.otel_name is None:
        raise ValueError(f"{spec.path} is not exposed to Prometheus")
    name = sanitize_full_name(spec.otel_name)
    # The specification's `1` → `ratio`, which the Python exporter does not apply yet (spec
    # issue #4058): polyad's exposition adds it too (telemetry.py), so that a scrape and an
    # OTLP push through the Collector name a series alike.
    unit = "ratio" if spec.unit == "1" else map_unit(spec.unit)
    if unit and not name.endswith(f"_{unit}"):
        name += f"_{unit}"
    return name + ("_total" if spec.kind == "counter" else "")


def promql(spec: MetricSpec) -> tuple[str, float] | None:
    """The PromQL giving a spec's value, and the factor from its JSON unit; None: none can."""
    if spec.otel_name is not None:
        return prometheus_name(spec), spec.otel_scale
    return spec.promql


def export_prometheus(groups: Sequence[RuleGroup]) -> str:
    """A rules file for Prometheus' `rule_files`; RuleError for a metric with no PromQL."""
    errors = [_no_promql(rule) for group in groups for rule in group.rules
              if promql(rule.spec) is None]
    if errors:
        raise RuleError(errors)
    document = {"groups": [_group(group) for group in groups]}
    return _header(groups) + yaml.safe_dump(document, sort_keys=False, allow_unicode=True,
                                            width=1_000_000)


def _no_promql(rule: Rule) -> str:
    reason = (_NO_PROMQL_NETWORK_SUM if rule.metric.startswith("network.")
              else "no PromQL computes it from /metrics/prom")
    return (f"{rule.source}: group {rule.group}, rule {rule.alert}, field metric: "
            f"{rule.metric} has no Prometheus equivalent: {reason}")


def _header(groups: Sequence[RuleGroup]) -> str:
    lines = ["# Prometheus alerting rules, from `polyad rules export --format prometheus`.",
             "# The series are polyad's /metrics/prom. These alerts match the agents' own when",
             "# `instance` is the agent's alerts.instance and `job` is dropped from alerts, as",
             "# polyad's deploy/prometheus/prometheus.yml does."]
    if any(rule.keep_firing_for_s for group in groups for rule in group.rules):
        lines.append("# keep_firing_for needs Prometheus 2.42 or later.")
    return "\n".join(lines) + "\n"


def _group(group: RuleGroup) -> dict[str, Any]:
    exported: dict[str, Any] = {"name": group.name}
    if group.interval_s is not None:
        exported["interval"] = _duration(group.interval_s)
    exported["rules"] = [_rule(rule) for rule in group.rules]
    return exported


def _rule(rule: Rule) -> dict[str, Any]:
    found = promql(rule.spec)
    assert found is not None
    query, scale = found
    exported: dict[str, Any] = {
        "alert": rule.alert, "expr": f"{query} {rule.op} {rule.threshold * scale:.12g}"}
    if rule.for_s:
        exported["for"] = _duration(rule.for_s)
    if rule.keep_firing_for_s:
        exported["keep_firing_for"] = _duration(rule.keep_firing_for_s)
    if rule.labels:
        exported["labels"] = {name: _literal(value) for name, value in rule.labels.items()}
    if rule.annotations:
        exported["annotations"] = {name: _template(text, rule, scale)
                                   for name, text in rule.annotations.items()}
    return exported


def _template(text: str, rule: Rule, scale: float) -> str:
    """An annotation as a Go template rendering what the engine renders, names being those the
    engine gives: value, host, the alert's labels."""
    series_labels = {"instance", *map(label_name, rule.spec.labels)}
    fixed = {"alertname": rule.alert, **rule.labels}

    def placeholder(name: str, written: str) -> str:
        if name == "value":
            return _VALUE_AS_PERCENT if scale == PERCENT else _VALUE_AS_IS
        if name == "host":
            return "{{ $labels.instance }}"
        if name in series_labels:
            return f"{{{{ $labels.{name} }}}}"
        return _literal(fixed.get(name, written))  # unknown names stay as written

    pieces: list[str] = []
    end = 0
    for match in PLACEHOLDER.finditer(text):
        pieces += [_literal(text[end:match.start()]), placeholder(match[1], match[0])]
        end = match.end()
    return "".join([*pieces, _literal(text[end:])])


def _literal(text: str) -> str:
    """Text a Go template prints as is: every `{` could start an action, so it is quoted."""
    return text.replace("{", '{{ "{" }}')


def _duration(seconds: float) -> str:
    """Prometheus' spelling, whole units only: `90` → `1m30s`, `0.5` → `500ms`."""
    remaining_ms = round(seconds * 1000)
    parts = []
    for unit, unit_ms in (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, remaining_ms = divmod(remaining_ms, unit_ms)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
