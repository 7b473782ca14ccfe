"""The metric catalog: every metric declared once, by the collector that produces it (see
`polyad.collectors.base.MetricSpec`), plus the agent's own, gathered here in one table that the
JSON views, OpenTelemetry instruments, alert rules and exports all read."""

from __future__ import annotations

import functools
import re

from polyad.collectors import MetricSpec, collector_specs
from polyad.collectors.base import PERCENT, Reading, scalar
from polyad.snapshot import Snapshot

__all__ = ["PERCENT", "SEMCONV_VERSION", "MetricSpec", "Reading", "by_path", "catalog",
           "label_name", "labelled"]

# The OpenTelemetry semantic conventions the names follow (system.*, hw.*, attribute names);
# names they lack live under `polyad.`.
SEMCONV_VERSION = "1.39.0"


def _reports(snapshot: Snapshot) -> list[Reading]:
    return [((report.name,), 1.0 if report.ok else 0.0) for report in snapshot.reports.values()]


_AGENT = (
    MetricSpec("polyad.collector.success", "collectors[].success", "",
               "1 when the collector answered in the last tick, else 0", _reports,
               labels=("collector",)),
    MetricSpec("polyad.collector.duration", "collectors[].duration_seconds", "s",
               "Time the collector took in the last tick",
               lambda snapshot: [((report.name,), report.duration_s)
                                 for report in snapshot.reports.values()],
               labels=("collector",)),
    MetricSpec("polyad.uptime", None, "s", "Seconds since the agent started",
               lambda snapshot: scalar(snapshot.uptime_s), kind="counter"),
)


@functools.cache
def catalog() -> tuple[MetricSpec, ...]:
    """Every collector's metrics, in registry order, then the agent's own."""
    return (*(metric for spec in collector_specs().values() for metric in spec.metrics),
            *_AGENT)


def label_name(attribute: str) -> str:
    """An attribute's name as Prometheus (and so every alert, the agent's own included) writes
    it: `network.interface.name` → `network_interface_name`."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", attribute)


def labelled(spec: MetricSpec, label_values: tuple[str, ...]) -> dict[str, str]:
    """A reading's label values by the names Prometheus gives them (alerts, /history,
    /events): `{"network_interface_name": "eth0"}`."""
    return dict(zip(map(label_name, spec.labels), label_values, strict=True))


@functools.cache
def by_path() -> dict[str, MetricSpec]:
    return {spec.path: spec for spec in catalog() if spec.path is not None}
