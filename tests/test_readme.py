"""The README's list of Prometheus series is the exposition's, name for name."""

from __future__ import annotations

import re
from pathlib import Path

from polyad.telemetry import Telemetry
from tests.fakes.samples import full_snapshot

README = Path(__file__).resolve().parent.parent / "README.md"


def documented_series() -> set[str]:
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- series")[1].split("<!-- /series -->")[0]
    names = re.findall(r"`([a-z][a-z0-9_]*)`", table)
    labels = set(re.findall(r"\| ((?:`[a-z_]+`(?:, )?)+) \|\n", table))
    label_names = {name for group in labels for name in re.findall(r"`([a-z_]+)`", group)}
    return set(names) - label_names


def exposed_series() -> set[str]:
    snapshot = full_snapshot()
    telemetry = Telemetry(lambda: snapshot)
    telemetry.http_server_duration.record(0.01, {"http.route": "/status"})
    telemetry.render("")
    names = {family.name + ("_total" if family.type == "counter" else "")
             for family in telemetry.registry.collect()}
    telemetry.shutdown()
    return names


def test_every_exposed_series_is_documented_and_nothing_more() -> None:
    assert documented_series() == exposed_series()
