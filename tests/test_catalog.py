"""The catalog is the one list of metrics: its paths exist in /metrics, its names are unique."""

from __future__ import annotations

from typing import Any

import pytest

from polyad.catalog import MetricSpec, by_path, catalog
from polyad.views.render import metrics_view
from tests.fakes.samples import full_snapshot


def resolve(document: Any, path: str) -> list[Any]:
    """Values at a catalog path; `name[]` walks every entry of a list."""
    values = [document]
    for part in path.split("."):
        walk_list = part.endswith("[]")
        key = part.removesuffix("[]")
        values = [value[key] for value in values]
        if walk_list:
            values = [entry for value in values for entry in value]
    return values


@pytest.mark.parametrize("spec", [s for s in catalog() if s.path], ids=lambda s: s.path)
def test_every_path_is_in_the_metrics_json_with_the_value_the_spec_reads(spec: MetricSpec) -> None:
    snapshot = full_snapshot()
    document = metrics_view(snapshot).model_dump(mode="json", by_alias=True)
    assert spec.path is not None
    json_values = resolve(document, spec.path)
    read_values = [value for _, value in spec.readings(snapshot)]
    assert json_values == pytest.approx(read_values)
    assert read_values, f"{spec.path} reads nothing from a full snapshot"


def test_names_and_paths_are_unique() -> None:
    names = [spec.otel_name for spec in catalog() if spec.otel_name]
    assert len(names) == len(set(names))
    assert len(by_path()) == len([spec for spec in catalog() if spec.path])


def test_label_values_match_the_declared_labels() -> None:
    snapshot = full_snapshot()
    for spec in catalog():
        for labels, _ in spec.readings(snapshot):
            assert len(labels) == len(spec.labels), spec.otel_name or spec.path


def test_per_device_paths_have_labels_and_scalars_have_none() -> None:
    for spec in catalog():
        if spec.path is not None:
            assert ("[]" in spec.path) == bool(spec.labels), spec.path


def test_an_empty_snapshot_reads_nothing_rather_than_failing() -> None:
    snapshot = full_snapshot()
    empty = type(snapshot)(seq=1, taken_at=snapshot.taken_at, monotonic_s=0.0,
                           started_at=snapshot.started_at)
    for spec in catalog():
        if spec.otel_name != "polyad.uptime":
            assert list(spec.readings(empty)) == [], spec.otel_name or spec.path
