"""A task record as a Redis hash: every field a string, read back to the same record."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import orjson

from polyad.tasks.model import TaskRecord

__all__ = ["flatten", "from_fields", "outcome_fields", "pairs", "stamp", "to_fields"]


def stamp(moment: datetime) -> str:
    # Not units.iso_utc, the wire format: a stored record must read back to the same datetime
    # (fromisoformat), so it keeps its microseconds and its offset.
    return moment.isoformat()


def to_fields(record: TaskRecord, pool: str) -> dict[str, str]:
    return {"task_id": record.task_id, "type": record.type, "action": record.action,
            "priority": record.priority, "pool": pool, "status": record.status,
            "data": orjson.dumps(record.data).decode(), "created_at": stamp(record.created_at),
            "progress": "0", "attempts": "0", "from_cache": "0",
            "expected_s": repr(record.expected_s), "enqueued_at_s": repr(record.enqueued_at_s),
            "timeout_s": _optional(record.timeout_s), "deadline_s": _optional(record.deadline_s)}


def _optional(seconds: float | None) -> str:
    return "" if seconds is None else repr(seconds)


def outcome_fields(record: TaskRecord) -> dict[str, str]:
    """What a task's end changes (`started_at` and `attempts` too: an expired task was taken
    but never started)."""
    finished_at = record.finished_at or datetime.now(UTC)
    started_at = record.started_at
    return {"status": record.status, "finished_at": stamp(finished_at),
            "started_at": stamp(started_at) if started_at else "",
            "attempts": str(record.attempts),
            "progress": repr(record.progress), "from_cache": "1" if record.from_cache else "0",
            "result": orjson.dumps(record.result).decode(),
            "error": orjson.dumps(record.error).decode()}


def from_fields(fields: dict[str, str]) -> TaskRecord:
    def moment(name: str) -> datetime | None:
        value = fields.get(name)
        return datetime.fromisoformat(value) if value else None

    def seconds(name: str) -> float | None:
        value = fields.get(name)
        return float(value) if value else None

    return TaskRecord(
        task_id=fields["task_id"], type=fields["type"], action=fields["action"],
        priority=fields["priority"],  # type: ignore[arg-type]
        data=orjson.loads(fields["data"]), status=fields["status"],  # type: ignore[arg-type]
        created_at=moment("created_at") or datetime.now(UTC), started_at=moment("started_at"),
        finished_at=moment("finished_at"), progress=float(fields.get("progress", 0)),
        result=orjson.loads(fields.get("result", "null")),
        error=orjson.loads(fields.get("error", "null")),
        from_cache=fields.get("from_cache") == "1", attempts=int(fields.get("attempts", 0)),
        estimated_s=float(fields.get("estimated_s", 0)),
        expected_s=float(fields.get("expected_s", 0)),
        enqueued_at_s=float(fields.get("enqueued_at_s", 0)), timeout_s=seconds("timeout_s"),
        deadline_s=seconds("deadline_s"))


def pairs(flat: list[str]) -> dict[str, str]:
    """HGETALL's reply inside a script's reply: field, value, field, value …"""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def flatten(fields: dict[str, str]) -> Iterable[str]:
    for name, value in fields.items():
        yield name
        yield value
