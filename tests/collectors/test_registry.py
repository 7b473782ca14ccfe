"""The collector table: the built-in ones in a fixed order, plugins from the entry point group,
and a broken plugin left out with a log line rather than stopping the agent."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from structlog.testing import capture_logs

from polyad.collectors import registry
from polyad.collectors.cpu import SPEC as CPU


@dataclass(frozen=True)
class FakeEntryPoint:
    name: str
    value: str
    loaded: Any

    def load(self) -> Any:
        if isinstance(self.loaded, Exception):
            raise self.loaded
        return self.loaded


@pytest.fixture
def fresh_table() -> Iterator[None]:
    registry.collector_specs.cache_clear()
    yield
    registry.collector_specs.cache_clear()


def test_the_builtin_collectors_in_snapshot_order() -> None:
    assert list(registry.collector_specs()) == ["cpu", "memory", "gpu", "network", "disk",
                                                "filesystem", "sensors", "system"]
    # each metric knows whose sample it reads
    assert {metric.collector for metric in registry.collector_specs()["gpu"].metrics} == {"gpu"}


def test_a_broken_plugin_is_logged_and_left_out(monkeypatch: pytest.MonkeyPatch,
                                                fresh_table: None) -> None:
    plugins = [FakeEntryPoint("broken", "nowhere:SPEC", ImportError("No module named nowhere")),
               FakeEntryPoint("wrong", "somewhere:thing", object()),
               FakeEntryPoint("twin", "twin:SPEC", CPU)]
    monkeypatch.setattr(registry, "entry_points", lambda group: plugins)
    with capture_logs() as logs:
        names = list(registry.collector_specs())
    assert names == ["cpu", "memory", "gpu", "network", "disk", "filesystem",
                     "sensors", "system"]
    assert [(log["plugin"], log["error"]) for log in logs] == [
        ("broken", "ImportError: No module named nowhere"),
        ("wrong", "TypeError: somewhere:thing is not a CollectorSpec"),
        ("twin", "ValueError: a collector named 'cpu' is already registered")]
