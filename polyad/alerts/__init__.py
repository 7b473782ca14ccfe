"""Alerting: rules on catalog metrics, loaded and checked from YAML files, and their export to
Prometheus."""

from __future__ import annotations

from polyad.alerts.rules import (
    Rule,
    RuleError,
    RuleGroup,
    builtin_rule_files,
    load_rules,
    render_template,
    resolve_rule_files,
)

__all__ = [
    "Rule",
    "RuleError",
    "RuleGroup",
    "builtin_rule_files",
    "load_rules",
    "render_template",
    "resolve_rule_files",
]
