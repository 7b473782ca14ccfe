"""Snapshot → the seed's JSON views; each body is rendered at most once per snapshot."""

from __future__ import annotations

import socket
from collections.abc import Callable, Hashable
from typing import Any

import structlog
from pydantic import BaseModel

from polyad import __version__
from polyad.cache import Cache, CacheStats
from polyad.collectors import collector_specs
from polyad.collectors.base import JsonPiece, PieceModel
from polyad.config import Config
from polyad.health import HealthBoard
from polyad.snapshot import Snapshot
from polyad.units import format_bytes, format_duration, iso_utc
from polyad.views import schemas

__all__ = ["JsonViews", "metrics_view", "status_view"]

log = structlog.get_logger(logger_name="polyad.views")


def _document_members(snapshot: Snapshot) -> dict[str, Any]:
    """Each collector's pieces of the document, from its sample (None when it is off or failed
    this tick: the piece's fields are then null or empty, never missing)."""
    members: dict[str, list[PieceModel]] = {}
    top_level: dict[str, Any] = {}
    for spec in collector_specs().values():
        sample = snapshot.samples.get(spec.name)
        for piece in spec.pieces:
            rendered = _rendered(spec.name, piece, sample)
            if piece.member is None:
                top_level.update(dict(rendered))
            else:
                members.setdefault(piece.member, []).append(rendered)
    return {**{member: _merge(member, pieces) for member, pieces in members.items()},
            **top_level}


def _rendered(collector: str, piece: JsonPiece, sample: Any) -> PieceModel:
    """A piece, or its empty form when rendering its sample fails (a plugin's bug): one
    collector's fault must not take the whole document down."""
    try:
        return piece.render(sample)
    except Exception:
        log.exception("collector piece not rendered", collector=collector, member=piece.member)
        return piece.render(None)


def _merge(member: str, pieces: list[PieceModel]) -> Any:
    if len(pieces) == 1:
        return pieces[0]
    fields = {name: value for piece in pieces for name, value in dict(piece).items()}
    merged: type[BaseModel] = schemas.MetricsResponse.model_fields[member].annotation  # type: ignore[assignment]
    return merged.model_validate(fields)


def metrics_view(snapshot: Snapshot) -> schemas.MetricsResponse:
    return schemas.MetricsResponse.model_validate({
        **_document_members(snapshot),
        "collectors": [schemas.CollectorStatus(name=r.name, success=r.ok, outcome=r.outcome,
                                               duration_seconds=r.duration_s, error=r.error,
                                               no_data=r.no_data)
                       for r in snapshot.reports.values()],
        "sampled_at": iso_utc(snapshot.taken_at)})


def _components(snapshot: Snapshot, config: Config,
                health: HealthBoard) -> dict[str, schemas.ComponentStatus]:
    components = {}
    specs = collector_specs()
    for name, section in config.collectors.sections().items():
        report = snapshot.reports.get(name)
        if not section.enabled or report is None:
            components[f"collector.{name}"] = schemas.ComponentStatus(status="disabled")
            continue
        components[f"collector.{name}"] = schemas.ComponentStatus(
            status=report.outcome, detail=report.error or report.no_data)
        failures, sample = specs[name].failures, snapshot.samples.get(name)
        for part, why in failures(sample) if failures and sample is not None else ():
            components[part] = schemas.ComponentStatus(status="failed", detail=why)
    for name, state in health.components().items():
        components[name] = schemas.ComponentStatus(status="ok" if state.ok else "failed",
                                                   detail=state.detail)
    return components


def _resources(snapshot: Snapshot) -> schemas.Resources:
    values = {}
    for name, spec in collector_specs().items():
        if spec.resource is not None:
            sample = snapshot.samples.get(name)
            values[name] = spec.resource(sample) if sample is not None else None
    return schemas.Resources.model_validate(values)


def status_view(snapshot: Snapshot, config: Config, health: HealthBoard | None = None,
                cache: CacheStats | None = None) -> schemas.StatusResponse:
    components = _components(snapshot, config, health or HealthBoard())
    failing = any(c.status in ("failed", "timeout") for c in components.values())
    return schemas.StatusResponse(
        status="degraded" if failing else "running",
        uptime=format_duration(snapshot.uptime_s),
        uptime_seconds=round(snapshot.uptime_s, 3),
        resources=_resources(snapshot),
        cache=schemas.CacheSummary(size=format_bytes(cache.size_bytes if cache else 0),
                                   size_bytes=cache.size_bytes if cache else 0,
                                   hits=cache.hits if cache else 0,
                                   misses=cache.misses if cache else 0),
        components=components,
        version=__version__,
        hostname=socket.gethostname(),
        started_at=iso_utc(snapshot.started_at),
        sampled_at=iso_utc(snapshot.taken_at),
    )


class JsonViews:
    """Keeps the newest rendered body per view, keyed by the snapshot it came from (and, for
    /status, the health board's and the cache's state, so it is never behind them)."""

    def __init__(self, config: Config, health: HealthBoard, cache: Cache | None = None) -> None:
        self._config = config
        self._health = health
        self._cache = cache
        self._bodies: dict[str, tuple[Hashable, bytes]] = {}

    def metrics(self, snapshot: Snapshot) -> bytes:
        return self._memo("metrics", snapshot.seq, lambda: metrics_view(snapshot))

    def status(self, snapshot: Snapshot) -> bytes:
        cache = self._cache
        version = (snapshot.seq, self._health.version,
                   cache.stats_version() if cache is not None else None)
        return self._memo("status", version, lambda: status_view(
            snapshot, self._config, self._health,
            cache.snapshot_stats() if cache is not None else None))

    def _memo(self, view: str, version: Hashable, build: Callable[[], schemas.Model]) -> bytes:
        cached = self._bodies.get(view)
        if cached is not None and cached[0] == version:
            return cached[1]
        body = build().model_dump_json().encode()
        self._bodies[view] = (version, body)
        return body
