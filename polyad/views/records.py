"""Task records, alerts and cache numbers → the JSON models the API answers with."""

from __future__ import annotations

from polyad.alerts.engine import Alert, utc
from polyad.cache import CacheStats
from polyad.tasks.estimates import left_s
from polyad.tasks.model import TaskRecord
from polyad.units import iso_utc
from polyad.views import schemas

__all__ = ["alert_view", "cache_stats_view", "task_view"]


def task_view(record: TaskRecord) -> schemas.TaskView:
    started_at, finished_at = record.started_at, record.finished_at
    return schemas.TaskView(
        task_id=record.task_id, type=record.type, action=record.action,
        priority=record.priority, status=record.status, created_at=iso_utc(record.created_at),
        started_at=iso_utc(started_at) if started_at is not None else None,
        finished_at=iso_utc(finished_at) if finished_at is not None else None,
        progress=record.progress, result=record.result,
        error=schemas.TaskError(**record.error) if record.error else None,
        from_cache=record.from_cache, attempts=record.attempts,
        estimated_seconds=round(left_s(record), 3), timeout_seconds=record.timeout_s,
        deadline=iso_utc(utc(record.deadline_s)) if record.deadline_s is not None else None)


def alert_view(alert: Alert) -> schemas.AlertView:
    return schemas.AlertView(
        name=alert.name, state=alert.state, value=alert.value, labels=alert.labels,
        annotations=alert.annotations(), active_at=iso_utc(utc(alert.active_at_s)),
        fired_at=iso_utc(utc(alert.fired_at_s)) if alert.fired_at_s else None,
        rule=alert.rule.source)


def cache_stats_view(stats: CacheStats) -> schemas.CacheStats:
    return schemas.CacheStats(
        size=stats.size, size_bytes=stats.size_bytes, hits=stats.hits, misses=stats.misses,
        hit_rate=stats.hit_rate, evictions=stats.evictions,
        last_cleanup=iso_utc(stats.last_cleanup) if stats.last_cleanup else None,
        entries=stats.entries, max_size_bytes=stats.max_size_bytes, backend=stats.backend)
