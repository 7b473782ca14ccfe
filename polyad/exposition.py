"""The Prometheus exposition of the agent's OpenTelemetry metrics: what one collection of the
SDK's reader holds, written straight into the text format 0.0.4 or OpenMetrics 1.0.0.

Names follow the specification's Prometheus translation as OpenTelemetry's Python exporter
applies it (`sanitize_full_name`, `map_unit`, `_total` after a counter, the unit after the
name), and the text is what prometheus_client writes for the same families, byte for byte
(tests/test_exposition.py renders both). Done here rather than through
opentelemetry-exporter-prometheus and prometheus_client because those cost 45 % of a fresh
render under cProfile (the exporter's translation into prometheus_client's families, then their
rendering) and 1.2 MB of resident memory an agent held for that alone (docs/internals.md).
"""

from __future__ import annotations

import bisect
import functools
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    MetricsData,
    NumberDataPoint,
    Sum,
)

from polyad.collectors.base import USER_HZ, read_file

__all__ = ["CONTENT_TYPE_OPENMETRICS", "CONTENT_TYPE_TEXT", "Family", "boot_time",
           "families_of", "go_float", "label_set", "map_unit", "process_families", "render",
           "sanitize_attribute", "sanitize_full_name"]

CONTENT_TYPE_TEXT = "text/plain; version=0.0.4; charset=utf-8"
CONTENT_TYPE_OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

# -- names: the specification's translation (v1.33.0, compatibility/prometheus_and_openmetrics)
_INVALID_NAME = re.compile(r"[^a-zA-Z0-9:]+")
_INVALID_LABEL = re.compile(r"[^a-zA-Z0-9]+")
_UNIT_ANNOTATION = re.compile(r"{.*}")
_UNITS = {"d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
          "us": "microseconds", "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes",
          "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tibibytes", "KBy": "kilobytes",
          "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes", "m": "meters",
          "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams",
          "Cel": "celsius", "Hz": "hertz", "1": "", "%": "percent"}
_PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week",
              "mo": "month", "y": "year"}


def sanitize_full_name(name: str) -> str:
    """An instrument's name as a Prometheus metric name: `system.cpu.time` → `system_cpu_time`."""
    if name and name[0].isdigit():
        name = "_" + name[1:]
    return _INVALID_NAME.sub("_", name)


def sanitize_attribute(key: str) -> str:
    """An attribute's key as a label name: `cpu.mode` → `cpu_mode`."""
    if key and key[0].isdigit():
        key = "_" + key[1:]
    return _INVALID_LABEL.sub("_", key)


def map_unit(unit: str) -> str:
    """A UCUM unit as the name's suffix: `s` → `seconds`, `By/s` → `bytes_per_second`, `1` and
    `{thread}` → nothing."""
    unit = _UNIT_ANNOTATION.sub("", unit)
    if unit in _UNITS:
        return _UNITS[unit]
    top, slash, bottom = unit.partition("/")
    if slash and (bottom := _INVALID_NAME.sub("_", bottom)):
        top = _INVALID_NAME.sub("_", top)
        top = _UNITS.get(top, top)
        bottom = _PER_UNITS.get(bottom, bottom)
        return f"{top}_per_{bottom}" if top else f"per_{bottom}"
    return _INVALID_NAME.sub("_", unit).strip("_")


# -- families -----------------------------------------------------------------------------
@dataclass(slots=True)
class Family:
    """One metric family: its name (without `_total` for a counter, with its unit's suffix),
    and its samples as (sample name, `{labels}` as written, value as written)."""

    name: str
    type: str          # counter, gauge, histogram
    help: str
    unit: str
    samples: list[tuple[str, str, str]] = field(default_factory=list)


def go_float(value: float) -> str:
    """A sample value as Go (and so Prometheus) writes it: `+Inf`, `NaN`, `1.5e+07`."""
    value = float(value)
    if value == float("inf"):
        return "+Inf"
    if value == float("-inf"):
        return "-Inf"
    if value != value:
        return "NaN"
    text = repr(value)
    dot = text.find(".")
    if value > 0 and dot > 6:        # Go switches to an exponent sooner than Python
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1:]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def _escape(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _label_value(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


@functools.lru_cache(maxsize=4096)   # a few dozen keys, each instrument's own
def _label_name(key: str) -> str:
    return sanitize_attribute(key)


def label_set(names: Sequence[str], values: Sequence[str]) -> str:
    """`{name="value",…}` for names in sorted order (empty without names)."""
    if not names:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"'
                          for name, value in zip(names, values, strict=True)) + "}"


def _family_name(otel_name: str, unit: str, kind: str) -> str:
    name = sanitize_full_name(otel_name)
    if kind == "counter" and name.endswith("_total"):
        name = name[:-6]
    if unit and not name.endswith("_" + unit):
        name += "_" + unit
    return name


def families_of(metrics_data: MetricsData, ratios: frozenset[str] = frozenset()
                ) -> list[Family]:
    """Every metric of a collection as a family, as the exporter translates them (points of one
    metric share the union of their label names, a missing one written empty; a cumulative
    sum that is not monotonic is a gauge). `ratios`: the families of unit `1` that get
    `_ratio` after their name (what the Collector's translation does, spec issue #4058)."""
    families: dict[tuple[str, str, str, str], Family] = {}
    for resource_metrics in metrics_data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                data = metric.data
                if isinstance(data, Sum) and (
                        data.is_monotonic
                        or data.aggregation_temporality != AggregationTemporality.CUMULATIVE):
                    kind = "counter"
                elif isinstance(data, Gauge | Sum):
                    kind = "gauge"
                elif isinstance(data, Histogram):
                    kind = "histogram"
                else:
                    continue
                unit = map_unit(metric.unit or "")
                name = _family_name(metric.name, unit, kind)
                if name in ratios:
                    name += "_ratio"
                help_text = metric.description or ""
                key = (name, help_text, unit, kind)
                family = families.get(key)
                if family is None:
                    family = families[key] = Family(name, kind, help_text, unit)
                _add_points(family, data.data_points)
    return list(families.values())


def _add_points(family: Family,
                points: Sequence[NumberDataPoint | HistogramDataPoint]) -> None:
    rows = [{_label_name(key): _label_value(value)
             for key, value in (point.attributes or {}).items()}
            for point in points]
    names = sorted(set(chain.from_iterable(rows)))
    sample = family.name + "_total" if family.type == "counter" else family.name
    for point, row in zip(points, rows, strict=True):
        values = [row.get(name, "") for name in names]
        if isinstance(point, HistogramDataPoint):
            _add_histogram(family, names, values, point)
        else:
            family.samples.append((sample, label_set(names, values), go_float(point.value)))


def _add_histogram(family: Family, names: list[str], values: list[str],
                   point: HistogramDataPoint) -> None:
    at = bisect.bisect_left(names, "le")              # `le` in its sorted place
    head = label_set(names[:at], values[:at])[1:-1]
    tail = label_set(names[at:], values[at:])[1:-1]
    before, after = head + "," if head else "", "," + tail if tail else ""
    bucket = family.name + "_bucket"
    cumulative = 0
    for bound, count in zip(chain(point.explicit_bounds, ["+Inf"]), point.bucket_counts,
                            strict=True):
        cumulative += count
        family.samples.append((bucket, f'{{{before}le="{bound}"{after}}}', go_float(cumulative)))
    labels = label_set(names, values)
    family.samples.append((family.name + "_count", labels, go_float(cumulative)))
    family.samples.append((family.name + "_sum", labels, go_float(point.sum)))


# -- the agent's own process ---------------------------------------------------------------
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _gauge(name: str, help_text: str, value: float) -> Family:
    return Family(name, "gauge", help_text, "", [(name, "", go_float(value))])


def process_families(procfs: Path, boot_time_s: float | None) -> list[Family]:
    """The six process_* series every exporter dashboard queries, under prometheus_client's
    names and help texts, from `{procfs}/self`. None where procfs cannot be read (no boot
    time), and without the ones whose file cannot be."""
    if boot_time_s is None:
        return []
    found: list[Family] = []
    own = procfs / "self"
    try:
        fields = read_file(own / "stat").rsplit(")", 1)[-1].split()
        found += [
            _gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                   float(fields[20])),
            _gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                   float(fields[21]) * _PAGE_BYTES),
            _gauge("process_start_time_seconds",
                   "Start time of the process since unix epoch in seconds.",
                   float(fields[19]) / USER_HZ + boot_time_s),
            Family("process_cpu_seconds", "counter",
                   "Total user and system CPU time spent in seconds.", "",
                   [("process_cpu_seconds_total", "",
                     go_float(float(fields[11]) / USER_HZ + float(fields[12]) / USER_HZ))]),
        ]
    except (OSError, IndexError, ValueError):
        pass
    try:
        limit = next(float(line.split()[3]) for line in read_file(own / "limits").splitlines()
                     if line.startswith("Max open file"))
        found += [_gauge("process_open_fds", "Number of open file descriptors.",
                         len(os.listdir(own / "fd"))),
                  _gauge("process_max_fds", "Maximum number of open file descriptors.", limit)]
    except (OSError, StopIteration, IndexError, ValueError):
        pass
    return found


def boot_time(procfs: Path) -> float | None:
    """`btime` of `{procfs}/stat`; None where it cannot be read."""
    try:
        return next(float(line.split()[1]) for line in read_file(procfs / "stat").splitlines()
                    if line.startswith("btime "))
    except (OSError, StopIteration, IndexError, ValueError):
        return None


# -- the text ------------------------------------------------------------------------------
def render(families: Iterable[Family], openmetrics: bool) -> bytes:
    lines: list[str] = []
    for family in families:
        if openmetrics:
            lines.append(f"# HELP {family.name} {_escape(family.help)}\n"
                         f"# TYPE {family.name} {family.type}\n")
            if family.unit:
                lines.append(f"# UNIT {family.name} {family.unit}\n")
        else:
            name = family.name + "_total" if family.type == "counter" else family.name
            help_text = family.help.replace("\\", r"\\").replace("\n", r"\n")
            lines.append(f"# HELP {name} {help_text}\n# TYPE {name} {family.type}\n")
        lines.extend(f"{sample}{labels} {value}\n" for sample, labels, value in family.samples)
    if openmetrics:
        lines.append("# EOF\n")
    return "".join(lines).encode()

