"""The fields of a rule file, one parser each: a YAML value in, a checked value out.

A parser raises ValueError saying what is wrong; `EXPECTED` says what would be right.
"""

from __future__ import annotations

import difflib
import math
import operator as operators
import re
from collections.abc import Callable, Sequence
from functools import cache

from polyad.alerts.yamlnodes import describe
from polyad.catalog import MetricSpec, by_path
from polyad.units import parse_duration

__all__ = [
    "EXPECTED",
    "OPERATORS",
    "alert_name",
    "group_name",
    "label_problem",
    "metric_path",
    "operator",
    "seconds",
    "seconds_above_zero",
    "spec_of",
    "threshold",
]

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operators.gt, ">=": operators.ge, "<": operators.lt, "<=": operators.le,
    "==": operators.eq, "!=": operators.ne,
}

EXPECTED = {
    "groups": "a list of groups, each with a name and rules",
    "name": "a group name, unique across all rule files",
    "interval": "a duration above 0, like 15s or 1m",
    "rules": "a list of rules, each with alert, metric, op and threshold",
    "alert": "a name of letters, digits and _, unique across all rule files",
    "metric": "a gauge's path in GET /metrics, like cpu.usage",
    "op": 'one of > >= < <= == !=, in quotes: op: ">"',
    "threshold": "a number, in the metric's unit in GET /metrics",
    "for": "a duration like 0s, 30s or 5m",
    "keep_firing_for": "a duration like 0s, 30s or 5m",
    "labels": "a mapping of label names to strings",
    "annotations": "a mapping of names to strings",
}

_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_RESERVED_LABELS = ("alertname", "instance")


@cache
def _specs() -> dict[str, MetricSpec]:
    return by_path()


def spec_of(path: str) -> MetricSpec:
    return _specs()[path]


def group_name(value: object) -> str:
    if isinstance(value, str) and value.strip():
        return value
    raise ValueError(f"got {describe(value)}")


def alert_name(value: object) -> str:
    if isinstance(value, str) and _NAME.fullmatch(value):
        return value
    raise ValueError(f"got {describe(value)}")


def metric_path(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"got {describe(value)}")
    spec = _specs().get(value)
    if spec is None:
        closest = difflib.get_close_matches(value, list(_specs()), n=3, cutoff=0.6)
        hint = f"; closest: {', '.join(closest)}" if closest else ""
        raise ValueError(f"unknown metric {value!r}{hint}")
    if spec.kind == "counter":
        raise ValueError(f"{value} is a counter, a total since start, not a level to compare")
    return value


def operator(value: object) -> str:
    if isinstance(value, str) and value in OPERATORS:
        return value
    raise ValueError(f"got {describe(value)}")


def threshold(value: object) -> float:
    # bool is an int to Python, but `threshold: yes` is a mistake, not 1
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise ValueError(f"got {describe(value)}")


def seconds(value: object) -> float:
    """A duration of 0 or more."""
    if isinstance(value, str | int | float):
        try:
            duration_s = parse_duration(value)
        except ValueError:
            pass
        else:
            if math.isfinite(duration_s) and duration_s >= 0:
                return duration_s
    raise ValueError(f"got {describe(value)}")


def seconds_above_zero(value: object) -> float:
    duration_s = seconds(value)
    if duration_s > 0:
        return duration_s
    raise ValueError(f"got {describe(value)}")


def label_problem(name: str, device_labels: Sequence[str] | None) -> str | None:
    """What is wrong with a label name (`device_labels` given) or an annotation name (None)."""
    if not _NAME.fullmatch(name):
        return f"{name!r} is not a name (expected letters, digits and _, not first a digit)"
    if device_labels is None:
        return None
    if name in _RESERVED_LABELS or name.startswith("__"):
        return (f"{name} is reserved (expected a label other than "
                f"{', '.join(_RESERVED_LABELS)} and __*)")
    if name in device_labels:
        return (f"{name} is set per device by the metric (expected a label other than "
                f"{', '.join(device_labels)})")
    return None
