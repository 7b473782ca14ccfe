"""POST /task, GET /task/{task_id}, GET /tasks, DELETE /task/{task_id}."""

from __future__ import annotations

import re
from datetime import datetime
from typing import cast

import pydantic
from aiohttp import hdrs, web

from polyad.api.bodies import field_errors, read_json
from polyad.api.keys import TASKS
from polyad.api.render import iso_utc
from polyad.api.schemas import TaskAccepted, TaskError, TaskList, TaskRequest, TaskView
from polyad.errors import NotFound, ValidationError
from polyad.tasks.model import Status, TaskRecord
from polyad.units import format_duration

__all__ = ["cancel_task", "get_task", "list_tasks", "submit_task"]

JSON = "application/json"
_TASK_ID = re.compile(r"[0-9a-f]{32}")
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
TASK_ID_PATTERN = "^[0-9a-f]{32}$"
MAX_LIST = 1000


def _iso(moment: datetime | None) -> str | None:
    return iso_utc(moment) if moment is not None else None


def task_view(record: TaskRecord) -> TaskView:
    return TaskView(
        task_id=record.task_id, type=record.type, action=record.action,
        priority=record.priority, status=record.status, created_at=iso_utc(record.created_at),
        started_at=_iso(record.started_at), finished_at=_iso(record.finished_at),
        progress=record.progress, result=record.result,
        error=TaskError(**record.error) if record.error else None,
        from_cache=record.from_cache, attempts=record.attempts,
        estimated_seconds=round(record.estimated_s, 3))


def _json(model: pydantic.BaseModel, status: int = 200,
          headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=model.model_dump_json().encode(), status=status,
                        content_type=JSON, headers=headers)


def _task_id(request: web.Request) -> str:
    task_id = request.match_info["task_id"]
    if not _TASK_ID.fullmatch(task_id):
        raise NotFound(f"{task_id[:64]!r} is not a task id (32 hexadecimal digits)")
    return task_id


async def submit_task(request: web.Request) -> web.Response:
    body = await read_json(request, TaskRequest)
    tasks = request.app[TASKS]
    handler = tasks.handler(body.type, body.action)
    try:
        data = handler.data_model.model_validate(body.data)
    except pydantic.ValidationError as error:
        raise ValidationError(f"data does not fit {handler.key}",
                              errors=field_errors(error, prefix="data.")) from None
    record = await tasks.submit(handler, data.model_dump(mode="json"), body.priority)
    accepted = TaskAccepted(task_id=record.task_id, status="accepted",
                            estimated_time=format_duration(record.estimated_s),
                            estimated_seconds=round(record.estimated_s, 3),
                            priority=record.priority)
    return _json(accepted, 202, {hdrs.LOCATION: f"/task/{record.task_id}"})


async def get_task(request: web.Request) -> web.Response:
    return _json(task_view(request.app[TASKS].get(_task_id(request))))


async def list_tasks(request: web.Request) -> web.Response:
    status = request.query.get("status")
    if status is not None and status not in STATUSES:
        raise ValidationError("bad query", errors=[{
            "field": "status", "message": f"expected one of {', '.join(STATUSES)}",
            "type": "enum"}])
    task_type = request.query.get("type")
    if task_type is not None and len(task_type) > 64:
        raise ValidationError("bad query", errors=[{
            "field": "type", "message": "expected at most 64 characters",
            "type": "string_too_long"}])
    limit_text = request.query.get("limit", "100")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIST:
        raise ValidationError("bad query", errors=[{
            "field": "limit", "message": f"expected an integer from 1 to {MAX_LIST}",
            "type": "int_range"}])
    records = request.app[TASKS].newest(status=cast("Status | None", status),
                                        task_type=task_type, limit=int(limit_text))
    return _json(TaskList(tasks=[task_view(record) for record in records]))


async def cancel_task(request: web.Request) -> web.Response:
    return _json(task_view(request.app[TASKS].cancel(_task_id(request))))
