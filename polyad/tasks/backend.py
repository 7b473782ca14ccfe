"""What the task manager needs of a queue backend (memory or Redis), and what both share: the
refusal when the queue is full, and GET /tasks' cursor."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from polyad.errors import ServiceUnavailable
from polyad.tasks.model import Status, TaskRecord

__all__ = ["CURSOR_PATTERN", "Cursor", "OnTaskEvent", "Page", "Pool", "TaskStore", "queue_full",
           "unreachable_queue"]

OnTaskEvent = Callable[[str], None]
# which agents may run a task: this host's ("own"), any on the same Redis ("shared"), any there
# with room on a GPU ("gpu"); the memory backend has only its own
Pool = Literal["own", "shared", "gpu"]
CURSOR_PATTERN = "^[0-9]{1,20}-[0-9a-f]{32}$"
_CURSOR = re.compile(CURSOR_PATTERN.strip("^$"))


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page of GET /tasks ended: the last task's place in the store's order (a sequence
    number in memory, its submission time in ms in Redis) and its id. Opaque to clients, who
    only send back the `next` link they were given."""

    position: int
    task_id: str

    def __str__(self) -> str:
        return f"{self.position}-{self.task_id}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """`text` matches CURSOR_PATTERN (the query's model checked it)."""
        assert _CURSOR.fullmatch(text), text
        position, _, task_id = text.partition("-")
        return cls(int(position), task_id)


@dataclass(frozen=True, slots=True)
class Page:
    """Tasks newest first, and where the next page starts (None: this was the last)."""

    records: list[TaskRecord]
    next: Cursor | None


class TaskStore(Protocol):
    """Records and the ready queue. A record `take` returns is already running (started,
    attempts counted) and is this agent's until `finish` or `hand_back`."""

    shares: bool
    """Other agents run its "shared" and "gpu" pools' tasks (False: every task runs here)."""

    async def open(self, on_cancel: OnTaskEvent, on_lost: OnTaskEvent,
                   serves_gpu: Callable[[], bool] = lambda: False) -> None:
        """Start; `on_cancel(task_id)` asks to stop a task running here (a DELETE seen by another
        agent), `on_lost(task_id)` says a task running here now belongs to another agent;
        `serves_gpu()` says whether to claim from the "gpu" pool now."""

    async def close(self) -> None: ...

    async def add(self, record: TaskRecord, *, pool: Pool, busy_s: Sequence[float],
                  max_queued: int) -> None:
        """Queue it and set `record.estimated_s`, the time until it is done: the work queued
        ahead of it on the workers, each busy for `busy_s` (tasks/estimates.py), then its own
        expected run time. ServiceUnavailable when the queue is full."""

    async def take(self) -> TaskRecord:
        """The next task by priority with aging; waits for one. Never raises for a backend
        outage: it waits that out too."""

    async def get(self, task_id: str) -> TaskRecord | None: ...

    async def newest(self, *, status: Status | None, task_type: str | None, limit: int,
                     after: Cursor | None = None) -> Page:
        """Up to `limit` tasks that match, newest first, from just past `after`."""

    async def remove(self, task_id: str) -> bool:
        """Deletes a finished task's record (True); a queued or running one stays (False).
        NotFound for an unknown id."""

    async def cancel(self, task_id: str) -> TaskRecord:
        """Cancels a queued task at once; a running one is flagged (its agent stops it).
        NotFound for an unknown id, Conflict for a finished task."""

    async def expire(self, task_id: str) -> TaskRecord | None:
        """A task still queued ends `expired` (its deadline passed): its record; None when it
        is not queued (any more), or unknown."""

    async def finish(self, record: TaskRecord) -> bool:
        """Stores the outcome; False when the task is no longer this agent's to finish."""

    async def hand_back(self, record: TaskRecord) -> None:
        """The agent is stopping with this task unfinished: queue it again where the backend
        outlives the agent, else record it cancelled."""

    def queued_by_priority(self) -> dict[str, int]:
        """Without I/O (metric callbacks call it): exact in memory, as of the last heartbeat in
        Redis."""


def queue_full(max_queued: int, queued: int, queued_work_s: float,
               workers: int) -> ServiceUnavailable:
    """503 with a Retry-After of about when a slot frees: the queued work's average expected run
    time, per worker (1 to 60 s)."""
    per_task_s = queued_work_s / max(1, queued)
    retry_after_s = max(1, min(60, math.ceil(per_task_s / workers)))
    return ServiceUnavailable(f"the task queue is full ({max_queued} queued)",
                              retry_after_s=retry_after_s)


def unreachable_queue() -> ServiceUnavailable:
    """What a task call answers while the queue's Redis cannot be reached."""
    return ServiceUnavailable("the task queue (Redis) cannot be reached", retry_after_s=5)
