"""Rule files read and checked: every mistake in every file, one line each, at once.

Each line reads `FILE:LINE: group G, rule R, field F: what is wrong (expected …)`; the YAML is
read as nodes (yamlnodes) to know the lines, and each field is parsed by `fields`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import yaml

from polyad.alerts.fields import (
    EXPECTED,
    alert_name,
    group_name,
    label_problem,
    metric_path,
    operator,
    seconds,
    seconds_above_zero,
    spec_of,
    threshold,
)
from polyad.alerts.model import Rule, RuleError, RuleGroup
from polyad.alerts.yamlnodes import Entry, compose_file, describe, entries, line_of, plain
from polyad.catalog import label_name
from polyad.yamlsafe import problem_of

__all__ = ["load_rules"]

T = TypeVar("T")

_FILE_KEYS = ("groups",)
_GROUP_KEYS = ("name", "interval", "rules")
_GROUP_REQUIRED = ("name", "rules")
_RULE_KEYS = ("alert", "metric", "op", "threshold", "for", "keep_firing_for", "labels",
              "annotations")
_RULE_REQUIRED = ("alert", "metric", "op", "threshold")


def load_rules(paths: Iterable[Path]) -> list[RuleGroup]:
    """The groups in these files, in order; raises RuleError with every mistake in all of them."""
    errors: list[str] = []
    groups: list[RuleGroup] = []
    for path in paths:
        where = _Where(str(path), problems=[])
        groups += _read_file(path, where)
        errors += [message for _, message in sorted(where.problems, key=lambda problem: problem[0])]
    errors += _duplicates(groups)
    if errors:
        raise RuleError(errors)
    return groups


@dataclass(frozen=True, slots=True)
class _Where:
    """Where a mistake is, to say so; `problems` (line, message) is the file's, shared."""

    file: str
    problems: list[tuple[int, str]]
    group: str | None = None
    rule: str | None = None

    def report(self, line: int, field: str | None, problem: str) -> None:
        context = [f"group {self.group}"] if self.group is not None else []
        context += [f"rule {self.rule}"] if self.rule is not None else []
        context += [f"field {field}"] if field is not None else []
        self.problems.append((line, ": ".join(
            [f"{self.file}:{line}", *([", ".join(context)] if context else []), problem])))

    def source(self, node: yaml.Node) -> str:
        return f"{self.file}:{line_of(node)}"


def _read_file(path: Path, where: _Where) -> list[RuleGroup]:
    root = _top_mapping(path, where)
    if root is None:
        return []
    found = _keys(root, _FILE_KEYS, _FILE_KEYS, where)
    nodes = _sequence(found.get("groups"), where)
    return [group for index, node in enumerate(nodes, start=1)
            if (group := _group(node, index, where)) is not None]


def _top_mapping(path: Path, where: _Where) -> yaml.MappingNode | None:
    """The file's top-level mapping; None, the mistake reported, when it has none."""
    try:
        root = compose_file(path)
    except OSError as error:
        where.problems.append((0, f"{path}: cannot read it: {error.strerror or error}"))
        return None
    except UnicodeDecodeError:
        where.problems.append((0, f"{path}: cannot read it: not UTF-8 text"))
        return None
    except yaml.YAMLError as error:
        line, problem = problem_of(error)
        where.report(line, None, problem)
        return None
    if isinstance(root, yaml.MappingNode):
        return root
    if root is None:  # empty, or comments only
        where.report(1, "groups", f"missing (expected {EXPECTED['groups']})")
    else:
        where.report(line_of(root), "groups",
                     f"the file is {describe(plain(root))} (expected a mapping with groups)")
    return None


def _group(node: yaml.Node, index: int, where: _Where) -> RuleGroup | None:
    if not isinstance(node, yaml.MappingNode):
        where.report(line_of(node), "groups", f"an entry is {describe(plain(node))} "
                     "(expected a mapping with name and rules)")
        return None
    where = replace(where, group=_name_for_messages(node, "name", index))
    found = _keys(node, _GROUP_KEYS, _GROUP_REQUIRED, where)
    name = _field(found, "name", group_name, where)
    interval_s = _field(found, "interval", seconds_above_zero, where)
    rule_nodes = _sequence(found.get("rules"), where)
    rules = tuple(rule for position, rule_node in enumerate(rule_nodes, start=1)
                  if (rule := _rule(rule_node, position, where, interval_s)) is not None)
    if name is None:
        return None
    return RuleGroup(name, interval_s, rules, where.source(node))


def _rule(node: yaml.Node, index: int, where: _Where, interval_s: float | None) -> Rule | None:
    if not isinstance(node, yaml.MappingNode):
        where.report(line_of(node), "rules", f"an entry is {describe(plain(node))} "
                     "(expected a mapping with alert, metric, op and threshold)")
        return None
    where = replace(where, rule=_name_for_messages(node, "alert", index))
    problems_before = len(where.problems)
    found = _keys(node, _RULE_KEYS, _RULE_REQUIRED, where)
    alert = _field(found, "alert", alert_name, where)
    metric = _field(found, "metric", metric_path, where)
    op = _field(found, "op", operator, where)
    limit = _field(found, "threshold", threshold, where)
    for_s = _field(found, "for", seconds, where, default=0.0)
    keep_firing_for_s = _field(found, "keep_firing_for", seconds, where, default=0.0)
    device_labels = tuple(map(label_name, spec_of(metric).labels)) if metric is not None else ()
    labels = _strings(found.get("labels"), where, device_labels)
    annotations = _strings(found.get("annotations"), where, None)
    if (len(where.problems) > problems_before or alert is None or metric is None or op is None
            or limit is None or for_s is None or keep_firing_for_s is None):
        return None
    return Rule(str(where.group), alert, metric, op, limit, for_s, keep_firing_for_s, labels,
                annotations, interval_s, where.source(node))


def _name_for_messages(node: yaml.MappingNode, key: str, index: int) -> str:
    found, _ = entries(node)
    value = found[key].value if key in found else None
    return value if isinstance(value, str) and value else f"#{index}"


def _keys(node: yaml.MappingNode, allowed: Sequence[str], required: Sequence[str],
          where: _Where) -> dict[str, Entry]:
    """The node's entries; a key given twice, unknown or missing is a mistake."""
    found, repeated = entries(node)
    for entry in repeated:
        where.report(entry.line, entry.key, "given twice (expected each key once)")
    for entry in found.values():
        if entry.key not in allowed:
            where.report(entry.line, entry.key,
                         f"unknown key (expected one of {', '.join(allowed)})")
    for key in required:
        if key not in found:
            where.report(line_of(node), key, f"missing (expected {EXPECTED[key]})")
    return found


def _field(found: Mapping[str, Entry], key: str, parse: Callable[[object], T], where: _Where,
           default: T | None = None) -> T | None:
    entry = found.get(key)
    if entry is None:
        return default
    try:
        return parse(entry.value)
    except ValueError as error:
        where.report(entry.line, key, f"{error} (expected {EXPECTED[key]})")
        return None


def _sequence(entry: Entry | None, where: _Where) -> list[yaml.Node]:
    if entry is None:
        return []
    if isinstance(entry.node, yaml.SequenceNode):
        return list(entry.node.value)
    where.report(entry.line, entry.key,
                 f"got {describe(entry.value)} (expected {EXPECTED[entry.key]})")
    return []


def _strings(entry: Entry | None, where: _Where,
             device_labels: Sequence[str] | None) -> dict[str, str]:
    """Labels (`device_labels` given: their names are checked) or annotations, by name."""
    if entry is None:
        return {}
    if not isinstance(entry.node, yaml.MappingNode):
        where.report(entry.line, entry.key,
                     f"got {describe(entry.value)} (expected {EXPECTED[entry.key]})")
        return {}
    found, repeated = entries(entry.node)
    for item in repeated:
        where.report(item.line, f"{entry.key}.{item.key}", "given twice (expected each once)")
    strings: dict[str, str] = {}
    for item in found.values():
        field = f"{entry.key}.{item.key}"
        problem = label_problem(item.key, device_labels)
        if problem is not None:
            where.report(item.line, field, problem)
        if isinstance(item.value, str):
            strings[item.key] = item.value
        else:
            where.report(item.line, field,
                         f"got {describe(item.value)} (expected a string: put it in quotes)")
    return strings


def _duplicates(groups: Sequence[RuleGroup]) -> list[str]:
    """Group names and alert names are unique across all files: each names one thing."""
    errors: list[str] = []
    first_group: dict[str, str] = {}
    first_alert: dict[str, str] = {}
    for group in groups:
        if group.name in first_group:
            errors.append(f"{group.source}: group {group.name}, field name: defined before at "
                          f"{first_group[group.name]} (expected {EXPECTED['name']})")
        first_group.setdefault(group.name, group.source)
        for rule in group.rules:
            if rule.alert in first_alert:
                errors.append(f"{rule.source}: group {group.name}, rule {rule.alert}, field "
                              f"alert: defined before at {first_alert[rule.alert]} "
                              f"(expected {EXPECTED['alert']})")
            first_alert.setdefault(rule.alert, rule.source)
    return errors
