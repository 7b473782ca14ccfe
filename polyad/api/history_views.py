"""GET /history: past values of catalog metrics from the agent's own rings (polyad/history.py)."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import pydantic
from aiohttp import web
from pydantic import BeforeValidator, Field, WithJsonSchema

from polyad.api.bodies import field_errors
from polyad.api.keys import HISTORY
from polyad.api.responses import json_response
from polyad.catalog import MetricSpec, by_path, labelled
from polyad.errors import NotFound, ValidationError
from polyad.history import History
from polyad.units import iso_utc, parse_duration
from polyad.views.schemas import HistoryResponse, HistorySeries

__all__ = ["MAX_METRICS", "MAX_POINTS", "HistoryQuery", "history"]

MAX_METRICS = 20      # metrics in one request
MAX_POINTS = 2000     # points per series: since / step
DEFAULT_POINTS = 240  # when no step is asked: a chart's width, roughly

Duration = Annotated[
    float, BeforeValidator(parse_duration), Field(gt=0),
    # a positive number of seconds, or of ms, s, m, h or d (not zero)
    WithJsonSchema({"type": "string",
                    "pattern": r"^(?!0*(\.0*)?(ms|s|m|h|d)?$)\d+(\.\d+)?(ms|s|m|h|d)?$",
                    "examples": ["15m", "10s", "1h"]})]


def _known_metrics(schema: dict[str, Any]) -> None:
    """The catalog's paths as the items' enum: what a client may ask for, in the document."""
    schema["items"] = {"type": "string", "enum": sorted(by_path())}


class HistoryQuery(pydantic.BaseModel):
    """GET /history's query string; `metric` repeats (`?metric=cpu.usage&metric=memory.usage`)."""

    model_config = pydantic.ConfigDict(extra="ignore", frozen=True)
    metric: list[str] = Field(min_length=1, max_length=MAX_METRICS,
                              description="A GET /metrics path, e.g. cpu.usage; repeat it for "
                                          "more",
                              json_schema_extra=_known_metrics)
    since: Duration = Field(default=900.0, json_schema_extra={"default": "15m"},
                            description="How far back, e.g. 15m, 1h, 24h; at most "
                                        "history.long_retention (what is kept)")
    step: Duration | None = Field(default=None, description=(
        f"Point spacing, e.g. 10s; default: about {DEFAULT_POINTS} points over `since`; "
        f"at least `since` / {MAX_POINTS}"))


def _query(request: web.Request) -> HistoryQuery:
    raw = {**request.query, "metric": request.query.getall("metric", [])}
    try:
        return HistoryQuery.model_validate(raw)
    except pydantic.ValidationError as error:
        raise ValidationError("bad query", errors=field_errors(error)) from None


def _specs(names: list[str]) -> list[MetricSpec]:
    known = by_path()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValidationError(
            f"unknown metric {unknown[0][:100]!r}; known: {', '.join(sorted(known))}",
            errors=[{"field": "metric", "message": f"not a metric path: {name[:100]!r}",
                     "type": "unknown_metric"} for name in unknown])
    return [known[name] for name in dict.fromkeys(names)]


def _window(query: HistoryQuery, kept: History) -> tuple[float, float]:
    """(since, step) in seconds: at most what the rings keep, at most MAX_POINTS a series (a
    finer step is widened) and at least one (a longer step is the window), as the response's
    since and step_seconds say."""
    since_s = min(query.since, kept.long_retention_s)
    step_s = query.step or max(kept.interval_s, math.ceil(since_s / DEFAULT_POINTS))
    return since_s, min(max(step_s, since_s / MAX_POINTS), since_s)


async def history(request: web.Request) -> web.Response:
    kept = request.app.get(HISTORY)
    if kept is None:
        raise NotFound("history is off (history.enabled: false)")
    query = _query(request)
    specs = _specs(query.metric)
    since_s, step_s = _window(query, kept)
    start_s = time.time() - since_s
    series = [HistorySeries(metric=spec.path or "", labels=labelled(spec, labels),
                            unit=spec.json_unit, points=points)
              for spec in specs
              for labels, points in kept.points(spec.path or "", start_s, step_s)]
    return json_response(HistoryResponse(
        since=iso_utc(datetime.fromtimestamp(start_s, UTC)), step_seconds=step_s,
        series=series))
