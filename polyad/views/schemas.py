"""Response and request bodies, as pydantic models: the views build them, the API sends and
reads them, OpenAPI shows them.

Field names follow the seed API document; numeric siblings (`*_bytes`, `*_bps`, `*_seconds`) sit
beside its human strings. A value the host cannot give is null.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    create_model,
)

from polyad.alerts.engine import AlertState
from polyad.cache.base import Backend
from polyad.collectors import collector_specs
from polyad.collectors.base import PieceModel
from polyad.snapshot import CollectorOutcome
from polyad.tasks.model import Priority, Status

__all__ = [
    "AlertList",
    "AlertView",
    "CacheCleared",
    "CacheStats",
    "CacheSummary",
    "Health",
    "HistoryResponse",
    "HistorySeries",
    "MetricsResponse",
    "Problem",
    "Readiness",
    "RulesReloaded",
    "StatusResponse",
    "StreamEvent",
    "TaskAccepted",
    "TaskList",
    "TaskRequest",
    "TaskView",
]

Percent = float | None


class Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class CollectorStatus(Model):
    name: str
    success: bool
    outcome: CollectorOutcome
    duration_seconds: float
    error: str | None
    no_data: str | None = Field(description="Why this host gives nothing here (e.g. no GPU)")


def _merged(name: str, models: list[type[PieceModel]]) -> type[BaseModel]:
    """One model with every piece's fields, the first piece's first (pydantic takes the
    bases' fields from the last base to the first)."""
    if len(models) == 1:
        return models[0]
    return create_model(name, __base__=tuple(reversed(models)))


def _pieces_by_member() -> dict[str | None, list[type[PieceModel]]]:
    members: dict[str | None, list[type[PieceModel]]] = {}
    for spec in collector_specs().values():
        for piece in spec.pieces:
            members.setdefault(piece.member, []).append(piece.model)
    return members


def _metrics_response() -> type[Model]:
    """`GET /metrics`: each collector's pieces, in registry order (the seed's cpu, memory, gpu,
    network first), then what the agent says of its collectors."""
    fields: dict[str, Any] = {}
    members = _pieces_by_member()
    for member, models in members.items():
        if member is not None:
            fields[member] = (_merged(f"{member.title()}Metrics", models), ...)
    for model in members.get(None, []):
        fields.update({name: (info.annotation, info) for name, info in model.model_fields.items()})
    fields["collectors"] = (list[CollectorStatus], ...)
    fields["sampled_at"] = (str, Field(description="ISO 8601 UTC time of the sample"))
    return create_model("MetricsResponse", __base__=Model, **fields)


def _resources() -> type[Model]:
    """/status `resources`: a number of each collector that has one (the seed's cpu, memory
    and gpu percentages)."""
    fields: dict[str, Any] = {name: (Percent, ...) for name, spec in collector_specs().items()
                              if spec.resource is not None}
    return create_model("Resources", __base__=Model, **fields)


if TYPE_CHECKING:  # their fields are the registry's, known when it is
    MetricsResponse = Model
    Resources = Model
else:
    MetricsResponse = _metrics_response()
    Resources = _resources()


class CacheSummary(Model):
    size: str
    size_bytes: int
    hits: int
    misses: int


class ComponentStatus(Model):
    status: Literal["ok", "failed", "timeout", "disabled"]
    detail: str | None = Field(default=None, description="The error, or why there is no data")


class StatusResponse(Model):
    status: Literal["running", "degraded"]
    uptime: str = Field(description='Human span, e.g. "1h 30m"')
    uptime_seconds: float
    resources: Resources
    cache: CacheSummary
    components: dict[str, ComponentStatus]
    version: str
    hostname: str = Field(description="The host's name, as the kernel gives it")
    started_at: str
    sampled_at: str


class CacheStats(Model):
    size: str = Field(description='Human size of what the cache holds, e.g. "1.2GB" (for '
                      "redis, the server's used memory)")
    size_bytes: int
    hits: int
    misses: int
    hit_rate: float = Field(description="Percent of lookups that found a value; 0 before any")
    evictions: int
    last_cleanup: str | None = Field(description="ISO 8601 UTC of the last expiry sweep")
    entries: int
    max_size_bytes: int | None = Field(description="The memory bound; null for redis")
    backend: Backend = Field(description="The store serving now")


class AlertView(Model):
    name: str
    state: AlertState
    value: float = Field(description="The metric's value at the last evaluation, in its unit")
    labels: dict[str, str]
    annotations: dict[str, str]
    active_at: str = Field(description="ISO 8601 UTC: since when the condition holds")
    fired_at: str | None = Field(description="ISO 8601 UTC: when it began firing")
    rule: str = Field(description="Where the rule is written (file:line)")


class AlertList(Model):
    alerts: list[AlertView]


class HistorySeries(Model):
    metric: str = Field(description="The GET /metrics path, e.g. cpu.usage")
    labels: dict[str, str] = Field(description="Which device, for a per-device path, by the "
                                               "label names alerts and Prometheus use")
    unit: str = Field(description="The value's unit, as in GET /metrics: %, By, bit/s, Cel …")
    points: list[tuple[float, float]] = Field(
        description="[unix seconds, value], the mean over each step, oldest first; "
                    "a step without a sample is left out")


class HistoryResponse(Model):
    since: str = Field(description="ISO 8601 UTC start of the window")
    step_seconds: float = Field(description="Points are at multiples of it, for every series")
    series: list[HistorySeries]


class StreamEvent(Model):
    """One Server-Sent Event of GET /events, as an EventSource hands it over: `data` is JSON,
    a tick ({seq, sampled_at, values: {path: [{labels, value}]}, failing}), an alert change
    ({event, name, state, value, labels, annotations, active_at, fired_at, rule}) or a task's
    state ({task_id, type, action, status, priority, progress})."""

    event: Literal["tick", "alert", "task"]
    data: str = Field(json_schema_extra={"contentMediaType": "application/json"})


class RulesReloaded(Model):
    status: Literal["reloaded"]
    groups: int
    rules: int


class CacheCleared(Model):
    cleared: int = Field(description="How many entries were removed")


_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d")


def _date_time_text(value: object) -> object:
    """RFC 3339 text only: not the Unix seconds pydantic's lax mode would also take."""
    if not isinstance(value, str) or not _DATE_TIME.match(value):
        raise ValueError("must be an RFC 3339 date-time with its offset, "
                         "e.g. 2026-12-06T23:00:00Z")
    return value


DateTimeText = Annotated[AwareDatetime, BeforeValidator(_date_time_text), Field(strict=False)]


class TaskRequest(Model):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    type: str = Field(description="Task family: system, vision, audio, …",
                      pattern=r"^[a-z][a-z0-9_]{0,63}$")
    action: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    data: dict[str, Any] = Field(default_factory=dict)
    priority: Priority = "normal"
    timeout: float | None = Field(default=None, gt=0, description=(
        "Seconds the task may run before it fails (error.type timeout); at most the "
        "handler's own limit, which applies when this is left out"))
    deadline: DateTimeText | None = Field(default=None, description=(
        "Start by then, or end `expired` without running (RFC 3339, with its offset)"))


class TaskAccepted(Model):
    task_id: str
    status: Literal["accepted"]
    estimated_time: str
    estimated_seconds: float
    priority: Priority


class TaskError(Model):
    type: str
    message: str


class TaskView(Model):
    task_id: str
    type: str
    action: str
    priority: Priority
    status: Status
    created_at: str
    started_at: str | None
    finished_at: str | None
    progress: float = Field(ge=0, le=1)
    result: Any = None
    error: TaskError | None
    from_cache: bool
    attempts: int
    estimated_seconds: float
    timeout_seconds: float | None = Field(default=None, description="the request's own")
    deadline: str | None = Field(default=None, description="the request's own")


class TaskList(Model):
    tasks: list[TaskView]
    next: str | None = Field(default=None, description=(
        "The next page (also in the Link header, rel=\"next\"); null on the last"))


class Health(Model):
    status: Literal["ok"]


class Readiness(Model):
    status: Literal["ready", "not ready"]
    detail: str | None = None
    snapshot_age_seconds: float | None


class Problem(Model):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = Field(default=None, description="Quote it when reporting a problem")
    errors: list[dict[str, Any]] | None = None
