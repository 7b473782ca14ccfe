"""Alert rules as the engine evaluates them: a catalog metric, a comparison, a threshold."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from polyad.alerts.fields import OPERATORS, spec_of
from polyad.catalog import MetricSpec
from polyad.errors import ConfigError

__all__ = ["PLACEHOLDER", "Rule", "RuleError", "RuleGroup", "render_template"]

# `{{ name }}` in an annotation; no other template syntax, so there is nothing more to learn
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass(frozen=True, slots=True)
class Rule:
    group: str
    alert: str
    metric: str                     # a catalog path, as in GET /metrics
    op: str                         # one of OPERATORS
    threshold: float                # in the metric's unit in GET /metrics (percent, not ratio)
    for_s: float                    # must hold this long before firing
    keep_firing_for_s: float        # must stay clear this long before resolving
    labels: Mapping[str, str]
    annotations: Mapping[str, str]  # templates: {{ value }}, {{ host }}, the alert's labels
    interval_s: float | None        # the group's; None: the configured evaluation interval
    source: str                     # "file:line"

    @property
    def spec(self) -> MetricSpec:
        return spec_of(self.metric)

    def holds(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.threshold)


@dataclass(frozen=True, slots=True)
class RuleGroup:
    name: str
    interval_s: float | None
    rules: tuple[Rule, ...]
    source: str


class RuleError(ConfigError):
    """Rule files are wrong; `errors` holds every mistake found, one line each."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)


def render_template(text: str, values: Mapping[str, str]) -> str:
    """`{{ name }}` replaced by `values[name]`; a name not in `values` stays as written."""
    return PLACEHOLDER.sub(lambda match: values.get(match[1], match[0]), text)
