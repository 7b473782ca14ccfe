"""The scenarios of `make bench`, in the order they run: each takes the run's Context and
returns its table rows and its raw figures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.plan import Context
from bench.report import Row
from bench.scenarios import (
    ceiling,
    connections,
    console,
    curves,
    existing,
    host_size,
    idle,
    peer_rest,
    scrape,
    soak,
)

__all__ = ["SCENARIOS", "Scenario"]

Scenario = Callable[[Context], tuple[list[Row], dict[str, Any]]]

SCENARIOS: dict[str, Scenario] = {
    "ceiling": ceiling.run,
    "peer-rest": peer_rest.run,
    "scrape": scrape.run,
    "idle": idle.run,
    "host-size": host_size.run,
    "console": console.run,
    "soak": soak.run,
    "tasks": existing.tasks,
    "estimates": existing.estimates,
    "cache": existing.cache,
    "auth-cost": existing.auth_cost,
    "curves": curves.run,
    "connections": connections.run,
}
