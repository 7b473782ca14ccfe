"""POST /task, GET /task/{task_id}, GET /tasks, POST /task/{task_id}/cancel and
DELETE /task/{task_id}."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pydantic
from aiohttp import hdrs, web

from polyad.api.bodies import field_errors, read_json
from polyad.api.keys import IDENTITY, TASKS
from polyad.api.responses import json_response
from polyad.errors import NotFound, ValidationError
from polyad.tasks.backend import CURSOR_PATTERN, Cursor
from polyad.tasks.estimates import left_s
from polyad.tasks.idempotency import scoped_key
from polyad.tasks.model import Status
from polyad.units import format_duration
from polyad.views.records import task_view
from polyad.views.schemas import TaskAccepted, TaskList, TaskRequest

__all__ = ["IDEMPOTENCY_KEY", "IDEMPOTENCY_KEY_PATTERN", "cancel_task", "delete_task", "get_task",
           "list_tasks", "submit_task"]

_TASK_ID = re.compile(r"[0-9a-f]{32}")
TASK_ID_PATTERN = "^[0-9a-f]{32}$"
MAX_LIST = 1000
IDEMPOTENCY_KEY = "Idempotency-Key"
IDEMPOTENT_REPLAYED = "Idempotent-Replayed"   # on the 202 of a retry: the first task's
IDEMPOTENCY_KEY_PATTERN = "^[!-~]{1,255}$"
_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN.strip("^$"))


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
    record, replayed = await tasks.submit(
        handler, data, body.priority, _idempotency_key(request),
        timeout_s=body.timeout,
        deadline_s=body.deadline.timestamp() if body.deadline is not None else None)
    estimate_s = left_s(record)  # a retry's: what is left of the first's
    accepted = TaskAccepted(task_id=record.task_id, status="accepted",
                            estimated_time=format_duration(estimate_s),
                            estimated_seconds=round(estimate_s, 3), priority=record.priority)
    headers: dict[str, str] = {hdrs.LOCATION: f"/task/{record.task_id}"}
    if replayed:
        headers[IDEMPOTENT_REPLAYED] = "true"
    return json_response(accepted, 202, headers)


def _idempotency_key(request: web.Request) -> str | None:
    """The request's Idempotency-Key, scoped to who sent it (a token's subject; with auth off,
    this machine); 422 for one that is not 1 to 255 visible ASCII characters."""
    values = request.headers.getall(IDEMPOTENCY_KEY, [])
    if not values:
        return None
    if len(values) > 1 or not _KEY.fullmatch(values[0]):
        raise ValidationError("Idempotency-Key must be one value of 1 to 255 visible ASCII "
                              "characters", errors=[{"field": IDEMPOTENCY_KEY,
                                                     "message": "not a valid key"}])
    identity = request.get(IDENTITY)
    return scoped_key(identity.subject if identity is not None else "local", values[0])


async def get_task(request: web.Request) -> web.Response:
    return json_response(task_view(await request.app[TASKS].get(_task_id(request))))


class TaskQuery(pydantic.BaseModel):
    """GET /tasks' query string, validated like any body (field errors, 422)."""

    model_config = pydantic.ConfigDict(extra="ignore", frozen=True)
    status: Status | None = None
    type: str | None = pydantic.Field(default=None, max_length=64)
    limit: int = pydantic.Field(default=100, ge=1, le=MAX_LIST)
    cursor: str | None = pydantic.Field(
        default=None, pattern=CURSOR_PATTERN,
        description="Where the page starts: the `cursor` of the previous page's `next` link")


async def list_tasks(request: web.Request) -> web.Response:
    try:
        query = TaskQuery.model_validate(dict(request.query))
    except pydantic.ValidationError as error:
        raise ValidationError("bad query", errors=field_errors(error)) from None
    page = await request.app[TASKS].newest(
        status=query.status, task_type=query.type, limit=query.limit,
        after=Cursor.parse(query.cursor) if query.cursor else None)
    next_url = None if page.next is None else _next_page(request, query, page.next)
    headers = {"Link": f'<{next_url}>; rel="next"'} if next_url else None
    return json_response(TaskList(tasks=[task_view(record) for record in page.records],
                                  next=next_url), headers=headers)


def _next_page(request: web.Request, query: TaskQuery, cursor: Cursor) -> str:
    """The same query from where this page ended (a path and query: relative to the agent)."""
    kept = query.model_dump(exclude_none=True, exclude={"cursor"}, exclude_defaults=True)
    return f"{request.path}?{urlencode({**kept, 'cursor': str(cursor)})}"


async def cancel_task(request: web.Request) -> web.Response:
    return json_response(task_view(await request.app[TASKS].cancel(_task_id(request))))


async def delete_task(request: web.Request) -> web.StreamResponse:
    """A finished task's record is deleted (204; 404 afterwards). A queued or running task is
    cancelled instead (200 with its record), as DELETE did before POST /task/{id}/cancel was
    there: kept for the clients that use it."""
    cancelled = await request.app[TASKS].delete(_task_id(request))
    if cancelled is None:
        return web.Response(status=204)
    return json_response(task_view(cancelled))
