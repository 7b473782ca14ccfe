"""polyad/exposition.py against what it replaced: for one collection of the same instruments,
the text OpenTelemetry's Prometheus exporter and prometheus_client write (both kept as
development dependencies for this comparison), line for line in both formats; their process
collector's series; their name translation and number format."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.exporter.prometheus import _mapping as exporter_names
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest as untyped_openmetrics
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from polyad.catalog import catalog
from polyad.exposition import (
    Family,
    boot_time,
    go_float,
    label_set,
    map_unit,
    process_families,
    render,
    sanitize_attribute,
    sanitize_full_name,
)
from polyad.telemetry import OWN_PROCFS, Telemetry
from tests.fakes.samples import full_snapshot

openmetrics_latest: Callable[[CollectorRegistry], bytes] = untyped_openmetrics


class _RatiosNamed(Collector):
    """`_ratio` after the unit-`1` families' names, as the agent names them (spec #4058)."""

    def __init__(self, registry: CollectorRegistry, ratios: Iterable[str]) -> None:
        self._registry, self._ratios = registry, frozenset(ratios)

    def collect(self) -> Iterable[Metric]:
        for family in self._registry.collect():
            if family.name in self._ratios:
                named = f"{family.name}_ratio"
                family.samples = [sample._replace(name=named + sample.name[len(family.name):])
                                  for sample in family.samples]
                family.name = named
            yield family


def _without_process_series(text: bytes) -> list[str]:
    return [line for line in text.decode().splitlines()
            if not line.split(" ", 3)[-2 if line.startswith("#") else 0].startswith("process_")]


@pytest.mark.parametrize(("accept", "reference"), [("text/plain", generate_latest),
                                                   ("application/openmetrics-text",
                                                    openmetrics_latest)])
def test_every_line_is_what_the_exporter_and_prometheus_client_write(
        accept: str, reference: Callable[[CollectorRegistry], bytes]) -> None:
    registry = CollectorRegistry(auto_describe=False)
    exporter = PrometheusMetricReader(disable_target_info=True, scope_info_enabled=False,
                                      registry=registry)
    snapshot = full_snapshot()
    telemetry = Telemetry(lambda: snapshot, readers=[exporter])
    ratios = {sanitize_full_name(spec.otel_name) for spec in catalog()
              if spec.otel_name and spec.unit == "1" and not spec.otel_name.endswith("_ratio")}
    named = CollectorRegistry(auto_describe=False)
    named.register(_RatiosNamed(registry, ratios))
    try:
        ours = _without_process_series(telemetry.render(accept)[0])
        theirs = _without_process_series(reference(named))
        assert len(theirs) > 250                # every collector's series, GPUs included
        assert any(line.startswith("hw_gpu_") for line in theirs)
        assert ours == theirs
    finally:
        telemetry.shutdown()


def test_the_process_series_are_prometheus_client_s() -> None:
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(proc=str(OWN_PROCFS), registry=registry)
    theirs = generate_latest(registry).decode().splitlines()
    ours = render(process_families(OWN_PROCFS, boot_time(OWN_PROCFS)), False).decode().splitlines()
    assert len(ours) == len(theirs) == 18       # six families: HELP, TYPE and one sample each
    for mine, its in zip(ours, theirs, strict=True):
        if mine.startswith("#"):
            assert mine == its
            continue
        name, value = mine.split(" ")
        its_name, its_value = its.split(" ")
        assert name == its_name
        if name in ("process_start_time_seconds", "process_max_fds",
                    "process_virtual_memory_bytes"):
            assert float(value) == pytest.approx(float(its_value), rel=0.01)
        else:                                   # moved between the two reads
            assert float(value) == pytest.approx(float(its_value), rel=0.5, abs=20)


def test_no_process_series_where_procfs_cannot_be_read(tmp_path: Path) -> None:
    assert boot_time(tmp_path) is None
    assert process_families(tmp_path, None) == []
    assert process_families(tmp_path, 1.0) == []   # no `self` there: nothing, not an error


def test_numbers_are_written_as_go_writes_them() -> None:
    generator = random.Random(7)
    values = [0.0, -0.0, 1.0, -1.0, 0.005, 1e6, 1234567.0, 12345678.9, 1e21, 1e-7, -1e9,
              math.inf, -math.inf, math.nan, 3, 2**53,
              *(generator.uniform(-1e12, 1e12) for _ in range(200)),
              *(generator.expovariate(1e-6) for _ in range(200))]
    go_written: Callable[[float], str] = floatToGoString
    assert [go_float(value) for value in values] == [go_written(value) for value in values]


def test_names_are_translated_as_the_exporter_translates_them() -> None:
    units = {spec.unit for spec in catalog()} | {"", "ms", "By/s", "m/s", "{packet}/s", "1/s",
                                                 "KiBy", "Cel", "%", "{thread}", "weird unit!",
                                                 "/s", "s/"}
    for unit in units:
        assert map_unit(unit) == exporter_names.map_unit(unit), unit
    names = {spec.otel_name for spec in catalog() if spec.otel_name} | {"3d.model", "a-b.c:d"}
    for name in names:
        assert sanitize_full_name(name) == exporter_names.sanitize_full_name(name), name
    for key in ("cpu.mode", "http.response.status_code", "9lives", "k8s.pod-name", ""):
        assert sanitize_attribute(key) == exporter_names.sanitize_attribute(key), key


def test_quotes_backslashes_and_newlines_are_escaped_as_prometheus_client_escapes_them() -> None:
    value, help_text = 'C:\\dir "x"\nnext', 'help with "quotes"\\\n'
    family = Family("f", "gauge", help_text, "", [("f", label_set(["path"], [value]), "1.0")])

    class One(Collector):
        def collect(self) -> Iterable[Metric]:
            gauge = GaugeMetricFamily("f", help_text, labels=["path"])
            gauge.add_metric([value], 1.0)
            yield gauge

    registry = CollectorRegistry(auto_describe=False)
    registry.register(One())
    assert render([family], False) == generate_latest(registry)
    assert render([family], True) == openmetrics_latest(registry)
