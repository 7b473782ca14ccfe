"""The Snapshot: everything one sampler tick saw, immutable, shared by every reader."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

__all__ = ["CollectorOutcome", "CollectorReport", "Snapshot"]

SampleT = TypeVar("SampleT")

CollectorOutcome = Literal["ok", "failed", "timeout"]


@dataclass(frozen=True, slots=True)
class CollectorReport:
    name: str
    outcome: CollectorOutcome
    duration_s: float
    error: str | None = None
    no_data: str | None = None    # the collector answered, but this host has nothing for it

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass(frozen=True, slots=True)
class Snapshot:
    seq: int                      # 1 for the first tick, +1 per tick
    taken_at: datetime            # UTC, when the tick started
    monotonic_s: float            # the event loop's clock at the same moment
    started_at: datetime          # when the agent started, for uptime
    reports: Mapping[str, CollectorReport] = field(default_factory=dict)
    # collector name → what it returned this tick; absent when it is off or failed
    samples: Mapping[str, Any] = field(default_factory=dict)

    def sample(self, collector: str, kind: type[SampleT]) -> SampleT | None:
        """That collector's sample, checked to be a `kind`; None when it has none this tick."""
        found = self.samples.get(collector)
        return found if isinstance(found, kind) else None

    @property
    def uptime_s(self) -> float:
        return max(0.0, (self.taken_at - self.started_at).total_seconds())
