"""The in-memory task store: records by id, and the ready queue ordered with aging.

The next task is the queued one with the smallest `enqueued_at + penalty[priority]`: high
before normal before low, first-in first-out within a priority, and low work still runs once it
has waited out the penalty gap (a queue keyed by priority alone starves it). The Redis store
(redis_store.py) orders its streams by the same rule.

Everything here lives and dies with the process: tasks accepted but unfinished are lost on a
restart, and the README says so.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

from polyad.errors import Conflict, NotFound
from polyad.tasks.backend import Cursor, OnTaskEvent, Page, Pool, queue_full
from polyad.tasks.estimates import start_after
from polyad.tasks.model import NOT_STARTED_IN_TIME, Status, TaskRecord

__all__ = ["MemoryTaskStore"]


class MemoryTaskStore:
    shares = False   # every task runs in this process

    def __init__(self, penalties_s: Mapping[str, float], *, retention_s: float,
                 max_records: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._penalties_s = dict(penalties_s)
        self._retention_s = retention_s
        self._max_records = max_records
        self._clock = clock
        self._records: OrderedDict[str, TaskRecord] = OrderedDict()
        self._positions: dict[str, int] = {}   # each record's place in submission order
        self._submitted = itertools.count(1)
        self._finished_at_s: dict[str, float] = {}
        self._ready: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        # per priority: how many are queued, and their expected run time in all (O(1) reads)
        self._queued_count = dict.fromkeys(self._penalties_s, 0)
        self._queued_work_s = dict.fromkeys(self._penalties_s, 0.0)
        self._available = asyncio.Condition()

    def _sort_key(self, record: TaskRecord) -> float:
        return record.enqueued_at_s + self._penalties_s[record.priority]

    @property
    def queued(self) -> int:
        return sum(self._queued_count.values())

    def queued_by_priority(self) -> dict[str, int]:
        return dict(self._queued_count)

    def work_ahead_s(self, priority: str) -> float:
        """Expected run time of the work queued at this priority or a higher one."""
        penalty_s = self._penalties_s[priority]
        return sum(work_s for other, work_s in self._queued_work_s.items()
                   if self._penalties_s[other] <= penalty_s)

    def _dequeued(self, record: TaskRecord) -> None:
        self._queued_count[record.priority] -= 1
        self._queued_work_s[record.priority] = max(
            0.0, self._queued_work_s[record.priority] - record.expected_s)

    async def open(self, on_cancel: OnTaskEvent, on_lost: OnTaskEvent,
                   serves_gpu: Callable[[], bool] = lambda: False) -> None:
        """Nothing to open: every task runs in this process, which cancels its own."""

    async def close(self) -> None:
        """Nothing to close."""

    async def add(self, record: TaskRecord, *, pool: Pool, busy_s: Sequence[float],
                  max_queued: int) -> None:
        if self.queued >= max_queued:
            raise queue_full(max_queued, self.queued, sum(self._queued_work_s.values()),
                             len(busy_s))
        record.estimated_s = (start_after(self.work_ahead_s(record.priority), busy_s)
                              + record.expected_s)
        self._records[record.task_id] = record
        self._positions[record.task_id] = next(self._submitted)
        heapq.heappush(self._ready, (self._sort_key(record), next(self._order), record.task_id))
        self._queued_count[record.priority] += 1
        self._queued_work_s[record.priority] += record.expected_s
        async with self._available:
            self._available.notify()

    async def take(self) -> TaskRecord:
        """The next queued task, started; waits for one. Cancelled entries are skipped lazily."""
        async with self._available:
            while True:
                while self._ready:
                    _, _, task_id = heapq.heappop(self._ready)
                    record = self._records.get(task_id)
                    if record is not None and record.status == "queued":
                        self._dequeued(record)
                        record.start()
                        return record
                await self._available.wait()

    async def get(self, task_id: str) -> TaskRecord | None:
        return self._records.get(task_id)

    async def newest(self, *, status: Status | None, task_type: str | None, limit: int,
                     after: Cursor | None = None) -> Page:
        found: list[TaskRecord] = []
        for record in reversed(self._records.values()):
            position = self._positions[record.task_id]
            if after is not None and position >= after.position:
                continue
            if (status is None or record.status == status) and (
                    task_type is None or record.type == task_type):
                if len(found) == limit:  # one more exists: there is a next page
                    last = found[-1].task_id
                    return Page(found, Cursor(self._positions[last], last))
                found.append(record)
        return Page(found, None)

    async def remove(self, task_id: str) -> bool:
        record = self._records.get(task_id)
        if record is None:
            raise NotFound(f"no task {task_id} (unknown, or past its retention)")
        if not record.finished:
            return False
        self._forget(task_id)
        return True

    async def cancel(self, task_id: str) -> TaskRecord:
        """A queued record is cancelled here; its heap entry is dropped when it surfaces. A
        running one is left to the manager, which cancels its coroutine."""
        record = self._records.get(task_id)
        if record is None:
            raise NotFound(f"no task {task_id} (unknown, or past its retention)")
        if record.finished:
            raise Conflict(f"task {task_id} already {record.status}")
        if record.status == "queued":
            self._end_queued(record, "cancelled")
        return record

    async def expire(self, task_id: str) -> TaskRecord | None:
        record = self._records.get(task_id)
        if record is None or record.status != "queued":
            return None
        self._end_queued(record, "expired", error=dict(NOT_STARTED_IN_TIME))
        return record

    def _end_queued(self, record: TaskRecord, status: Status,
                    error: dict[str, str] | None = None) -> None:
        record.finish(status, error=error)
        self._dequeued(record)
        self._finished(record)

    async def finish(self, record: TaskRecord) -> bool:
        self._finished(record)
        return True

    async def hand_back(self, record: TaskRecord) -> None:
        record.finish("cancelled", error={"type": "shutdown", "message": "the agent stopped"})
        self._finished(record)

    def _finished(self, record: TaskRecord) -> None:
        self._finished_at_s[record.task_id] = self._clock()
        self.purge()

    def purge(self) -> None:
        """Finished records go after `retention_s`, and the oldest first beyond `max_records`."""
        now_s = self._clock()
        # _finished_at_s is in finishing order: the oldest is always first
        while self._finished_at_s:
            task_id, at_s = next(iter(self._finished_at_s.items()))
            if now_s - at_s <= self._retention_s and len(self._records) <= self._max_records:
                break
            self._forget(task_id)

    def _forget(self, task_id: str) -> None:
        self._finished_at_s.pop(task_id, None)
        self._positions.pop(task_id, None)
        self._records.pop(task_id, None)
