"""The Redis task store: accepted tasks outlive the agent that accepted them.

Its parts, each in a module of its own: where it keeps what (redis_layout.py), a record as a
hash (redis_records.py), the atomic steps as Lua scripts with named keys and arguments
(redis_scripts.py), the leases and the take-overs (redis_leases.py), what agents tell each
other over the channel (redis_signals.py). This module is the store the task manager uses: its
verbs, its workers' side, its background upkeep and its health.

Workers claim one entry each when free: never read ahead, or a dead agent strands what it
pre-read and the priority order breaks. A task survives a Redis restart only with Redis
persistence on (`appendonly yes`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from redis.exceptions import ResponseError

from polyad.background import stop_tasks
from polyad.config import TasksConfig
from polyad.errors import Conflict, NotFound, ServiceUnavailable
from polyad.health import HealthBoard
from polyad.redis_link import UNREACHABLE, RedisLink
from polyad.tasks.backend import (
    Cursor,
    OnTaskEvent,
    Page,
    Pool,
    queue_full,
    unreachable_queue,
)
from polyad.tasks.model import FINISHED, NOT_STARTED_IN_TIME, PRIORITIES, Status, TaskRecord
from polyad.tasks.redis_layout import GPU, GROUP, Layout
from polyad.tasks.redis_leases import Lease, Leases
from polyad.tasks.redis_records import (
    flatten,
    from_fields,
    outcome_fields,
    pairs,
    stamp,
    to_fields,
)
from polyad.tasks.redis_scripts import (
    CANCEL,
    CLAIM,
    FINISH,
    HAND_BACK,
    REMOVE,
    SUBMIT,
    ScriptRunner,
)
from polyad.tasks.redis_signals import WorkSignals, listen

__all__ = ["COMPONENT", "RedisTaskStore"]

COMPONENT = "tasks"
SERVING = "redis queue"
log = structlog.get_logger(logger_name="polyad.tasks")
_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)
_CLOSE_WAIT_S = 3.0
_PRUNE_EVERY_S = 300.0
_PRUNE_IDLE_MS = 600_000
_LIST_BATCH = 200
_LIST_SCAN_MAX = 5000


class RedisTaskStore:
    """On the agent's Redis link (polyad/redis_link.py): its client, and its view of whether
    Redis is there. While it is away the API's calls answer 503 at once; the workers and the
    lease upkeep keep trying on their own (a lease must be renewed the moment Redis is back)."""

    shares = True   # agents on the same Redis run each other's shared and GPU tasks

    def __init__(self, config: TasksConfig, link: RedisLink, health: HealthBoard, *,
                 replicas_to_ack: int = 0) -> None:
        self._config = config
        self._replicas_to_ack = replicas_to_ack
        # WAIT's own bound, well within the command's: a shortfall is an answer, not an outage
        self._wait_ms = max(1, round(link.timeout_s * 500))
        self._health = health
        self._link = link
        self._client = link.client
        self._penalties_s: dict[str, float] = config.aging.model_dump()
        self._layout = Layout(link.prefix, config.agent_id, self._penalties_s)
        self._consumer = f"{config.agent_id}:{os.urandom(4).hex()}"
        self._run = ScriptRunner(self._client, self._ensure_groups)
        self._leases = Leases(config, self._layout, self._consumer, self._run)
        self._signals = WorkSignals()
        self._queued_counts: dict[str, int] = dict.fromkeys(PRIORITIES, 0)
        self._listener: asyncio.Task[None] | None = None
        self._upkeeper: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._failures = 0
        self._on_cancel: OnTaskEvent = _ignore
        self._on_lost: OnTaskEvent = _ignore
        self._serves_gpu: Callable[[], bool] = lambda: False
        link.listeners.append(self._redis_changed)
        health.report(COMPONENT, ok=True, detail=SERVING)

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self, on_cancel: OnTaskEvent, on_lost: OnTaskEvent,
                   serves_gpu: Callable[[], bool] = lambda: False) -> None:
        self._on_cancel, self._on_lost = on_cancel, on_lost
        self._serves_gpu = serves_gpu
        try:
            await self._ensure_groups()
            self._healthy()
        except UNREACHABLE as error:  # the agent serves anyway; upkeep retries
            self._unhealthy(error)
        self._listener = asyncio.create_task(
            listen(self._client, self._layout.channel, self._heard, self._signals,
                   self._closing, self._listen_failed), name="polyad-tasks-listen")
        self._upkeeper = asyncio.create_task(self._upkeep(), name="polyad-tasks-upkeep")

    async def close(self) -> None:
        """Stops the background loops, each step bounded: a stop must not hang on a Redis call
        that outlives its cancellation (polyad/background.py says why). The client is the
        link's: it closes it."""
        self._closing.set()
        if self._upkeeper is not None:
            await stop_tasks([self._upkeeper], within_s=_CLOSE_WAIT_S)
        if self._listener is not None:  # it ends on the flag, within one poll
            await _within(self._listener)
        await _within(self._leases.prune(min_idle_ms=0, only=self._consumer))

    async def _ensure_groups(self) -> None:
        for queue in self._layout.queues + self._layout.gpu_queues:
            try:
                await self._client.xgroup_create(queue.stream, GROUP, id="0", mkstream=True)
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    # -- the API's verbs ---------------------------------------------------------------------
    async def add(self, record: TaskRecord, *, pool: Pool, busy_s: Sequence[float],
                  max_queued: int) -> None:
        layout = self._layout
        name = layout.pool_name(pool)
        penalty_s = self._penalties_s[record.priority]
        ahead = [other for other in PRIORITIES if self._penalties_s[other] <= penalty_s]
        # the queue it joins: a GPU task's is the GPU pool alone, others' what this agent serves
        served = (GPU,) if pool == "gpu" else layout.pools
        reply = await self._available(self._run.remaking(SUBMIT, {
            "stream": layout.stream(name, record.priority),
            "record": layout.record(record.task_id), "index": layout.index,
            "counts": layout.counts(name),
            "served_counts": [layout.counts(each) for each in served],
        }, {
            "max_queued": max_queued, "priority": record.priority,
            "expected_s": record.expected_s, "busy": ",".join(map(repr, busy_s)),
            "at_ms": round(record.enqueued_at_s * 1000), "task_id": record.task_id,
            "channel": layout.channel, "pool": name, "ahead": ",".join(ahead),
            "priorities": ",".join(PRIORITIES), "fields": list(flatten(to_fields(record, name))),
        }))
        if int(reply[0]) == 0:
            raise queue_full(max_queued, int(reply[1]), float(reply[2]), len(busy_s))
        record.estimated_s = float(reply[1])
        await self._replicated(record.task_id)

    async def _replicated(self, task_id: str) -> None:
        """With redis.replicas_to_ack, the submission must be on that many replicas before
        it is accepted: a failover right after the 202 must not lose the task."""
        wanted = self._replicas_to_ack
        if not wanted:
            return
        acked = await self._available(self._client.wait(wanted, self._wait_ms))
        if acked < wanted:
            log.warning("task submission not replicated in time", task_id=task_id,
                        replicas=acked, wanted=wanted)
            raise ServiceUnavailable(
                f"the task was written but reached {acked} of {wanted} replicas in time: it "
                "may still run, or be lost if the primary fails now; retry", retry_after_s=1)

    async def get(self, task_id: str) -> TaskRecord | None:
        fields = await self._available(self._client.hgetall(self._layout.record(task_id)))
        return from_fields(fields) if fields else None

    async def newest(self, *, status: Status | None, task_type: str | None, limit: int,
                     after: Cursor | None = None) -> Page:
        """Walks the index newest first, by (submission ms, id), in batches, reading at most
        _LIST_SCAN_MAX records a call: with a filter few match, a page may come short, and its
        cursor says where the walk stopped."""
        found: list[TaskRecord] = []
        index = self._layout.index
        top = "+inf" if after is None else after.position
        scanned = offset = 0
        last: Cursor | None = None
        # unfiltered, a page needs its records and one more (is there a next page?)
        size = _LIST_BATCH if status or task_type else min(_LIST_BATCH, limit + 1)
        while scanned < _LIST_SCAN_MAX:
            batch = await self._available(self._client.zrevrangebyscore(
                index, top, "-inf", start=offset, num=size, withscores=True))
            if not batch:
                return Page(found, None)
            scanned += len(batch)
            entries = [(task_id, int(score)) for task_id, score in batch
                       if after is None or int(score) < after.position or task_id < after.task_id]
            async with self._client.pipeline(transaction=False) as pipe:
                for task_id, _ in entries:
                    pipe.hgetall(self._layout.record(task_id))
                rows = await self._available(pipe.execute())
            gone = [task_id for (task_id, _), fields in zip(entries, rows, strict=True)
                    if not fields]
            if gone:  # expired records: their index entries go too
                await self._available(self._client.zrem(index, *gone))
            offset += len(batch) - len(gone)
            for (task_id, position), fields in zip(entries, rows, strict=True):
                if not fields:
                    continue
                record = from_fields(fields)
                if (status is None or record.status == status) and (
                        task_type is None or record.type == task_type):
                    if len(found) == limit:
                        return Page(found, last)
                    found.append(record)
                last = Cursor(position, task_id)
        return Page(found, last)

    async def remove(self, task_id: str) -> bool:
        removed = await self._available(self._run.remaking(
            REMOVE, {"record": self._layout.record(task_id), "index": self._layout.index},
            {"task_id": task_id, "finished": ",".join(FINISHED)}))
        if removed is None:
            raise NotFound(f"no task {task_id} (unknown, or past its retention)")
        return bool(removed)

    async def cancel(self, task_id: str) -> TaskRecord:
        reply = await self._end(task_id, "cancelled")
        if reply is None:
            raise NotFound(f"no task {task_id} (unknown, or past its retention)")
        before, record = reply
        if before in FINISHED:
            raise Conflict(f"task {task_id} already {before}")
        return record

    async def expire(self, task_id: str) -> TaskRecord | None:
        reply = await self._end(task_id, "expired")
        return reply[1] if reply is not None and reply[0] == "queued" else None

    async def _end(self, task_id: str, ending: Status) -> tuple[str, TaskRecord] | None:
        """CANCEL: its status before, and its record now; None for no such task."""
        error = orjson.dumps(NOT_STARTED_IN_TIME).decode() if ending == "expired" else ""
        reply = await self._available(self._run.remaking(
            CANCEL, {"record": self._layout.record(task_id)},
            {"now": stamp(datetime.now(UTC)), "retention_s": self._leases.retention_s,
             "channel": self._layout.channel, "counts_prefix": self._layout.counts_prefix,
             "task_id": task_id, "ending": ending, "error": error}))
        if reply is None:
            return None
        before, fields = reply
        return before, from_fields(pairs(fields))

    async def _available(self, call: Awaitable[Any]) -> Any:
        """The API's call, or 503 (at once while the link says Redis is away)."""
        return await self._link.call(call, unreachable_queue)

    # -- the workers' side -------------------------------------------------------------------
    async def take(self) -> TaskRecord:
        signals = self._signals
        while True:
            if self._leases.reclaimed:
                return self._own(self._leases.reclaimed.popleft())
            generation = signals.generation
            signals.idle_workers += 1
            try:
                lease = await self._claim()
                if lease is not None:
                    return self._own(lease)
                await signals.wait_for_work(generation)
            except UNREACHABLE as error:
                self._unhealthy(error)
                await asyncio.sleep(self._backoff_s())
            finally:
                signals.idle_workers -= 1

    def _own(self, lease: Lease) -> TaskRecord:
        self._leases.owned[lease.record.task_id] = lease
        return lease.record

    async def _claim(self) -> Lease | None:
        queues = self._layout.queues
        if self._serves_gpu():
            queues += self._layout.gpu_queues
        reply = await self._run.remaking(CLAIM, {
            "queues": [queue.stream for queue in queues] + [queue.counts for queue in queues],
        }, {
            "group": GROUP, "consumer": self._consumer, "prefix": self._layout.record_prefix,
            "started": stamp(datetime.now(UTC)), "n": len(queues),
            "order": [queue.priority for queue in queues]
                     + [queue.penalty_ms for queue in queues],
        })
        self._healthy()
        if reply is None:
            return None
        entry_id, index, fields = reply
        return Lease(from_fields(pairs(fields)), queues[int(index) - 1].stream, entry_id)

    async def finish(self, record: TaskRecord) -> bool:
        """Stores the outcome, trying until Redis answers. The lease stays held meanwhile, so
        the heartbeat keeps renewing it once Redis is back: giving up would leave the entry
        pending under this agent's name with nobody working on it. The store says whether
        the task was still ours: if another agent took it over during the outage, it runs
        there again and this outcome is dropped (at least once, never made up)."""
        lease = self._leases.owned.get(record.task_id)
        if lease is None:
            return False
        keys = {"stream": lease.stream, "record": self._layout.record(record.task_id),
                "index": self._layout.index}
        args = {"group": GROUP, "consumer": self._consumer, "entry_id": lease.entry_id,
                "retention_s": self._leases.retention_s,
                "max_records": self._config.max_records,
                "fields": list(flatten(outcome_fields(record)))}
        failures = 0
        try:
            while True:
                try:
                    return bool(await self._run.remaking(FINISH, keys, args))
                except UNREACHABLE as error:
                    self._unhealthy(error)
                    if not failures:
                        log.warning("task outcome waits for Redis", task_id=record.task_id)
                    await asyncio.sleep(self._retry_delay_s(failures))
                    failures += 1
        finally:
            self._leases.owned.pop(record.task_id, None)

    def _retry_delay_s(self, failures: int) -> float:
        """Backoff, but never past a heartbeat: once Redis is back the outcome should land
        before the lease it depends on could run out again."""
        return min(_BACKOFF_S[min(failures, len(_BACKOFF_S) - 1)], self._config.lease / 3)

    async def hand_back(self, record: TaskRecord) -> None:
        lease = self._leases.owned.pop(record.task_id, None)
        if lease is None:
            return
        pool = self._layout.pool_of(lease.stream)
        try:
            await self._run.remaking(HAND_BACK, {
                "stream": lease.stream, "record": self._layout.record(record.task_id),
                "counts": self._layout.counts(pool),
            }, {
                "group": GROUP, "consumer": self._consumer, "entry_id": lease.entry_id,
                "at_ms": round(record.enqueued_at_s * 1000), "task_id": record.task_id,
                "priority": record.priority, "expected_s": record.expected_s,
                "channel": self._layout.channel, "pool": pool,
            })
        except UNREACHABLE as error:  # left pending: reclaimed after the lease
            log.warning("task not handed back; it is reclaimed after the lease",
                        task_id=record.task_id, error=str(error))

    def queued_by_priority(self) -> dict[str, int]:
        return dict(self._queued_counts)

    # -- background: messages, leases, take-overs ------------------------------------------
    async def _heard(self, message: str) -> None:
        kind, _, subject = message.partition(":")
        if kind == "queued" and (subject in self._layout.pools
                                 or (subject == GPU and self._serves_gpu())):
            self._signals.work_queued()
        elif kind == "cancel" and subject in self._leases.owned:
            self._on_cancel(subject)

    def _listen_failed(self, error: BaseException) -> float:
        self._unhealthy(error)
        return self._backoff_s()

    async def _upkeep(self) -> None:
        """Every lease/3: renew what runs here, take over what dead agents left, refresh the
        queue counts the metrics show and, when they say work waits, send an idle worker to
        look for it (a message may not have announced it); now and then, prune consumers of
        agents gone."""
        pruned_at_s = time.monotonic()
        while True:
            await asyncio.sleep(self._config.lease / 3)
            try:
                await self._leases.renew(self._client, self._on_cancel, self._on_lost)
                if await self._leases.reclaim(self._signals.idle_workers,
                                              gpu=self._serves_gpu()):
                    self._signals.work_queued(len(self._leases.reclaimed))
                await self._refresh_counts()
                # the GPU pool is not in the counts: an agent serving it always looks
                if any(self._queued_counts.values()) or self._serves_gpu():
                    self._signals.nudge()
                if time.monotonic() - pruned_at_s > _PRUNE_EVERY_S:
                    await self._leases.prune(min_idle_ms=_PRUNE_IDLE_MS, only="")
                    pruned_at_s = time.monotonic()
                self._healthy()
            except UNREACHABLE as error:
                self._unhealthy(error)

    async def _refresh_counts(self) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for pool in self._layout.pools:
                pipe.hgetall(self._layout.counts(pool))
            rows = await pipe.execute()
        self._queued_counts = {priority: sum(max(0, int(row.get(priority, 0))) for row in rows)
                               for priority in PRIORITIES}

    # -- health --------------------------------------------------------------------------
    def _healthy(self) -> None:
        self._failures = 0

    def _unhealthy(self, error: BaseException) -> None:
        self._failures += 1
        self._link.failed(error)

    def _redis_changed(self, back: bool) -> None:
        self._health.report(COMPONENT, ok=back, detail=SERVING if back else
                            "redis unreachable (see redis); tasks wait, submissions get 503")

    def _backoff_s(self) -> float:
        return _BACKOFF_S[min(self._failures, len(_BACKOFF_S)) - 1] if self._failures else 0.1


def _ignore(_: str) -> None:
    """No one listening yet."""


async def _within(step: Awaitable[Any]) -> None:
    """Waits for one step of a stop at most `_CLOSE_WAIT_S`; one still running then is
    cancelled and left behind, logged. Its error, if any, is not the caller's concern."""
    future = asyncio.ensure_future(step)
    _, pending = await asyncio.wait([future], timeout=_CLOSE_WAIT_S)
    if pending:
        future.cancel()
        log.warning("task store: a step of the stop did not finish; left behind")
    elif not future.cancelled():
        future.exception()  # retrieved: a Redis error while stopping is expected
