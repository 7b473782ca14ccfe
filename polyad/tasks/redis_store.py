"""The Redis task store: accepted tasks outlive the agent that accepted them.

Layout, under `redis.prefix` (P):
- `P tasks:{pool}:{priority}`: one stream per pool and priority, consumer group `polyad`. A pool
  is `host:{tasks.agent_id}` (host-bound handlers: only this host's agent runs them) or `shared`
  (any agent on this Redis may). Entries carry the task id and its enqueue time.
- `P tasks:{pool}:queued`: per priority, how many wait and their expected run time in all.
- `P task:{id}`: the record (a hash), expiring `tasks.retention` after it finishes.
- `P tasks:index`: task ids by creation time, for GET /tasks (trimmed to `tasks.max_records`).
- `P tasks:events`: a channel that says "work queued" and "cancel this task".

At least once: a claimed entry stays in the group's pending list, owned by this agent's consumer,
until the task finishes. A heartbeat renews that lease (resets the entry's idle time) every
lease/3 while the agent still owns it; an entry idle past the lease belongs to a dead agent and is
taken over (XAUTOCLAIM, following its cursor) by an agent with a free worker. Each start counts
as an attempt; past `tasks.max_attempts` the task fails instead of running again, so a task that
kills its agent cannot kill every agent in turn. Workers claim one entry each when free: never
read ahead, or a dead agent strands what it pre-read and the priority order breaks. A task
survives a Redis restart only with Redis persistence on (`appendonly yes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections import deque
from collections.abc import Awaitable, Coroutine, Iterable
from dataclasses import dataclass
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
from polyad.tasks import redis_scripts
from polyad.tasks.backend import OnTaskEvent, queue_full
from polyad.tasks.model import FINISHED, PRIORITIES, Status, TaskRecord

__all__ = ["COMPONENT", "RedisTaskStore"]

COMPONENT = "tasks"
SERVING = "redis queue"
GROUP = "polyad"
log = structlog.get_logger(logger_name="polyad.tasks")
_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)
_POLL_S = 1.0            # a worker looks again this often even if no "queued" message came
_LISTEN_POLL_S = 0.2
_CLOSE_WAIT_S = 3.0
_PRUNE_EVERY_S = 300.0
_PRUNE_IDLE_MS = 600_000
_LIST_BATCH = 200
_LIST_SCAN_MAX = 5000


@dataclass(slots=True)
class _Lease:
    """A task this agent runs: its record and the stream entry that holds it pending."""

    record: TaskRecord
    stream: str
    entry_id: str


class RedisTaskStore:
    """On the agent's Redis link (polyad/redis_link.py): its client, and its view of whether
    Redis is there. While it is away the API's calls answer 503 at once; the workers and the
    lease upkeep keep trying on their own (a lease must be renewed the moment Redis is back)."""

    def __init__(self, config: TasksConfig, link: RedisLink, health: HealthBoard) -> None:
        self._config = config
        self._health = health
        self._link = link
        self._client = link.client
        self._prefix = link.prefix
        self._own_pool = f"host:{config.agent_id}"
        self._pools = (self._own_pool, "shared")
        self._consumer = f"{config.agent_id}:{os.urandom(4).hex()}"
        penalties_s = config.aging.model_dump()
        # every stream this agent serves, with its pool's counts and its aging penalty
        self._streams = [(self._stream(pool, priority), self._counts(pool), priority,
                          round(penalties_s[priority] * 1000))
                         for pool in self._pools for priority in PRIORITIES]
        self._penalties_s: dict[str, float] = penalties_s
        self._scripts = {name: self._client.register_script(getattr(redis_scripts, name))
                         for name in redis_scripts.__all__}
        self._owned: dict[str, _Lease] = {}
        self._reclaimed: deque[_Lease] = deque()
        self._cursors: dict[str, str] = {}
        self._queued_counts: dict[str, int] = dict.fromkeys(PRIORITIES, 0)
        self._idle_workers = 0
        self._generation = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._listener: asyncio.Task[None] | None = None
        self._upkeeper: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._failures = 0
        self._on_cancel: OnTaskEvent = _ignore
        self._on_lost: OnTaskEvent = _ignore
        link.listeners.append(self._redis_changed)
        health.report(COMPONENT, ok=True, detail=SERVING)

    # -- keys ------------------------------------------------------------------------------
    def _stream(self, pool: str, priority: str) -> str:
        return f"{self._prefix}tasks:{pool}:{priority}"

    def _counts(self, pool: str) -> str:
        return f"{self._prefix}tasks:{pool}:queued"

    def _record_key(self, task_id: str) -> str:
        return f"{self._prefix}task:{task_id}"

    @property
    def _index(self) -> str:
        return f"{self._prefix}tasks:index"

    @property
    def _channel(self) -> str:
        return f"{self._prefix}tasks:events"

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self, on_cancel: OnTaskEvent, on_lost: OnTaskEvent) -> None:
        self._on_cancel, self._on_lost = on_cancel, on_lost
        try:
            await self._ensure_groups()
            self._healthy()
        except UNREACHABLE as error:  # the agent serves anyway; upkeep retries
            self._unhealthy(error)
        self._listener = asyncio.create_task(self._listen(), name="polyad-tasks-listen")
        self._upkeeper = asyncio.create_task(self._upkeep(), name="polyad-tasks-upkeep")

    async def close(self) -> None:
        """Stops the background loops and the client, each step bounded: a stop must not hang
        on a Redis call that outlives its cancellation (polyad/background.py says why)."""
        self._closing.set()
        if self._upkeeper is not None:
            await stop_tasks([self._upkeeper], within_s=_CLOSE_WAIT_S)
        if self._listener is not None:  # it ends on the flag, within one poll
            await _within(self._listener)
        await _within(self._prune(min_idle_ms=0, only=self._consumer))

    async def _ensure_groups(self) -> None:
        for stream, *_ in self._streams:
            try:
                await self._client.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """A script, with the streams and group made again if Redis lost them (a restart
        without persistence, or someone deleted them)."""
        try:
            return await self._scripts[script](keys=keys, args=args)
        except ResponseError as error:
            if "NOGROUP" not in str(error) and "no such key" not in str(error):
                raise
        await self._ensure_groups()
        return await self._scripts[script](keys=keys, args=args)

    # -- the API's verbs ---------------------------------------------------------------------
    async def add(self, record: TaskRecord, *, shared: bool, workers: int,
                  max_queued: int) -> None:
        pool = "shared" if shared else self._own_pool
        penalty_s = self._penalties_s[record.priority]
        ahead = [other for other in PRIORITIES if self._penalties_s[other] <= penalty_s]
        fields = _to_fields(record, pool)
        keys = [self._stream(pool, record.priority), self._record_key(record.task_id),
                self._index, self._counts(pool), *(self._counts(each) for each in self._pools)]
        args = [max_queued, record.priority, record.expected_s, workers,
                round(record.enqueued_at_s * 1000), record.task_id, self._channel, pool,
                ",".join(ahead), ",".join(PRIORITIES), *_flatten(fields)]
        reply = await self._available(self._run("SUBMIT", keys, args))
        if int(reply[0]) == 0:
            raise queue_full(max_queued, int(reply[1]), float(reply[2]), workers)
        record.estimated_s = float(reply[1])

    async def get(self, task_id: str) -> TaskRecord | None:
        fields = await self._available(self._client.hgetall(self._record_key(task_id)))
        return _from_fields(fields) if fields else None

    async def newest(self, *, status: Status | None, task_type: str | None,
                     limit: int) -> list[TaskRecord]:
        found: list[TaskRecord] = []
        for start in range(0, _LIST_SCAN_MAX, _LIST_BATCH):
            ids = await self._available(
                self._client.zrevrange(self._index, start, start + _LIST_BATCH - 1))
            if not ids:
                break
            async with self._client.pipeline(transaction=False) as pipe:
                for task_id in ids:
                    pipe.hgetall(self._record_key(task_id))
                rows = await self._available(pipe.execute())
            gone = [task_id for task_id, fields in zip(ids, rows, strict=True) if not fields]
            if gone:  # expired records: their index entries go too
                await self._available(self._client.zrem(self._index, *gone))
            for fields in filter(None, rows):
                record = _from_fields(fields)
                if (status is None or record.status == status) and (
                        task_type is None or record.type == task_type):
                    found.append(record)
                    if len(found) >= limit:
                        return found
        return found

    async def cancel(self, task_id: str) -> TaskRecord:
        args = [_iso(datetime.now(UTC)), self._retention_s, self._channel,
                f"{self._prefix}tasks:", task_id]
        reply = await self._available(self._run("CANCEL", [self._record_key(task_id)], args))
        if reply is None:
            raise NotFound(f"no task {task_id} (unknown, or past its retention)")
        before, fields = reply
        record = _from_fields(_pairs(fields))
        if before in FINISHED:
            raise Conflict(f"task {task_id} already {before}")
        return record

    @property
    def _retention_s(self) -> int:
        return max(1, math.ceil(self._config.retention))

    async def _available(self, call: Awaitable[Any]) -> Any:
        """The API's call, or 503 (at once while the link says Redis is away)."""
        if self._link.away:
            if isinstance(call, Coroutine):
                call.close()        # made, never to be awaited
            raise _unreachable()
        try:
            return await call
        except UNREACHABLE as error:
            self._unhealthy(error)
            raise _unreachable() from None

    # -- the workers' side -------------------------------------------------------------------
    async def take(self) -> TaskRecord:
        while True:
            if self._reclaimed:
                return self._own(self._reclaimed.popleft())
            generation = self._generation
            self._idle_workers += 1
            try:
                lease = await self._claim()
                if lease is not None:
                    return self._own(lease)
                await self._wait_for_work(generation)
            except UNREACHABLE as error:
                self._unhealthy(error)
                await asyncio.sleep(self._backoff_s())
            finally:
                self._idle_workers -= 1

    def _own(self, lease: _Lease) -> TaskRecord:
        self._owned[lease.record.task_id] = lease
        return lease.record

    async def _claim(self) -> _Lease | None:
        keys = [stream for stream, *_ in self._streams] + [counts for _, counts, *_ in
                                                           self._streams]
        args = [GROUP, self._consumer, self._record_key(""), _iso(datetime.now(UTC)),
                len(self._streams), *(priority for *_, priority, _ in self._streams),
                *(penalty_ms for *_, penalty_ms in self._streams)]
        reply = await self._run("CLAIM", keys, args)
        self._healthy()
        if reply is None:
            return None
        entry_id, index, fields = reply
        return _Lease(_from_fields(_pairs(fields)), self._streams[int(index) - 1][0], entry_id)

    async def _wait_for_work(self, generation: int) -> None:
        """Until work is announced, or `_POLL_S` passes (a message may have been missed). A plain
        future per waiter: a Condition under wait_for deadlocked when workers were cancelled
        together (measured on Python 3.11)."""
        if self._generation != generation:
            return  # announced while this worker was claiming
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait([waiter], timeout=_POLL_S)
        finally:
            waiter.cancel()
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _work_queued(self, entries: int | None = 1) -> None:
        """Wakes a waiting worker per entry (None: all of them); waking every worker for one
        entry would send them all to claim it, and all but one for nothing."""
        self._generation += 1
        woken = 0
        for waiter in list(self._waiters):
            if entries is not None and woken >= entries:
                break
            if not waiter.done():
                waiter.set_result(None)
                woken += 1

    async def finish(self, record: TaskRecord) -> bool:
        """Stores the outcome, trying until Redis answers. The lease stays held meanwhile, so
        the heartbeat keeps renewing it once Redis is back: giving up would leave the entry
        pending under this agent's name with nobody working on it. The store says whether
        the task was still ours: if another agent took it over during the outage, it runs
        there again and this outcome is dropped (at least once, never made up)."""
        lease = self._owned.get(record.task_id)
        if lease is None:
            return False
        keys = [lease.stream, self._record_key(record.task_id), self._index]
        args = [GROUP, self._consumer, lease.entry_id, self._retention_s,
                self._config.max_records, *_flatten(_outcome_fields(record))]
        failures = 0
        try:
            while True:
                try:
                    return bool(await self._run("FINISH", keys, args))
                except UNREACHABLE as error:
                    self._unhealthy(error)
                    if not failures:
                        log.warning("task outcome waits for Redis", task_id=record.task_id)
                    await asyncio.sleep(self._retry_delay_s(failures))
                    failures += 1
        finally:
            self._owned.pop(record.task_id, None)

    def _retry_delay_s(self, failures: int) -> float:
        """Backoff, but never past a heartbeat: once Redis is back the outcome should land
        before the lease it depends on could run out again."""
        return min(_BACKOFF_S[min(failures, len(_BACKOFF_S) - 1)], self._config.lease / 3)

    async def hand_back(self, record: TaskRecord) -> None:
        lease = self._owned.pop(record.task_id, None)
        if lease is None:
            return
        pool = self._pool_of(lease.stream)
        keys = [lease.stream, self._record_key(record.task_id), self._counts(pool)]
        args = [GROUP, self._consumer, lease.entry_id, round(record.enqueued_at_s * 1000),
                record.task_id, record.priority, record.expected_s, self._channel, pool]
        try:
            await self._run("HAND_BACK", keys, args)
        except UNREACHABLE as error:  # left pending: reclaimed after the lease
            log.warning("task not handed back; it is reclaimed after the lease",
                        task_id=record.task_id, error=str(error))

    def _pool_of(self, stream: str) -> str:
        return next(pool for pool in self._pools if stream.startswith(self._stream(pool, "")))

    def queued_by_priority(self) -> dict[str, int]:
        return dict(self._queued_counts)

    # -- background: messages, leases, take-overs ------------------------------------------
    async def _listen(self) -> None:
        # Stopped by a flag, not by cancellation: a cancelled pub/sub read was seen to hang for
        # good (most likely Python 3.11's wait_for losing the cancellation, see
        # polyad/background.py), so the loop polls and looks at the flag.
        while not self._closing.is_set():
            try:
                async with self._client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._channel)
                    self._work_queued(None)  # whatever was said while not listening
                    while not self._closing.is_set():
                        message = await pubsub.get_message(timeout=_LISTEN_POLL_S)
                        if message is not None and message["type"] == "message":
                            await self._heard(message["data"])
            except UNREACHABLE as error:
                self._unhealthy(error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), self._backoff_s())

    async def _heard(self, message: str) -> None:
        kind, _, subject = message.partition(":")
        if kind == "queued" and subject in self._pools:
            self._work_queued()
        elif kind == "cancel" and subject in self._owned:
            self._on_cancel(subject)

    async def _upkeep(self) -> None:
        """Every lease/3: renew what runs here, take over what dead agents left, refresh the
        queue counts the metrics show; now and then, prune consumers of agents gone."""
        pruned_at_s = time.monotonic()
        while True:
            await asyncio.sleep(self._config.lease / 3)
            try:
                await self._renew()
                await self._reclaim()
                await self._refresh_counts()
                if time.monotonic() - pruned_at_s > _PRUNE_EVERY_S:
                    await self._prune(min_idle_ms=_PRUNE_IDLE_MS, only="")
                    pruned_at_s = time.monotonic()
                self._healthy()
            except UNREACHABLE as error:
                self._unhealthy(error)

    async def _renew(self) -> None:
        leases = list(self._owned.values())
        if not leases:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for lease in leases:
                await self._scripts["RENEW"](
                    keys=[lease.stream, self._record_key(lease.record.task_id)],
                    args=[GROUP, self._consumer, lease.entry_id, lease.record.progress],
                    client=pipe)
            replies = await pipe.execute()
        for lease, reply in zip(leases, replies, strict=True):
            task_id = lease.record.task_id
            if reply == 0 and self._owned.pop(task_id, None) is not None:
                log.warning("task lease lost: another agent took it over", task_id=task_id)
                self._on_lost(task_id)
            elif reply == 2:
                self._on_cancel(task_id)

    async def _reclaim(self) -> None:
        """One take-over per idle worker, highest priority first; the cursor of each stream is
        followed so entries deep in a long pending list are reached too."""
        free = self._idle_workers - len(self._reclaimed)
        abandoned = orjson.dumps({
            "type": "abandoned",
            "message": f"its agent stopped while running it, {self._config.max_attempts} "
                       "times: not tried again"}).decode()
        held = [*self._owned.values(), *self._reclaimed]
        for stream, *_ in self._streams:
            if free <= 0:
                break
            held_here = ",".join(lease.entry_id for lease in held if lease.stream == stream)
            args = [GROUP, self._consumer, round(self._config.lease * 1000),
                    self._cursors.get(stream, "0-0"), free, self._record_key(""),
                    _iso(datetime.now(UTC)), self._config.max_attempts, self._retention_s,
                    abandoned, held_here]
            cursor, *entries = await self._run("RECLAIM", [stream], args)
            self._cursors[stream] = cursor
            for entry_id, outcome, fields in entries:
                record = _from_fields(_pairs(fields))
                if outcome == "run":
                    self._reclaimed.append(_Lease(record, stream, entry_id))
                    free -= 1
                    log.info("task taken over", task_id=record.task_id,
                             attempt=record.attempts)
                elif outcome == "done":
                    log.warning("task ended on take-over", task_id=record.task_id,
                                status=record.status, attempts=record.attempts)
        if self._reclaimed:
            self._work_queued(len(self._reclaimed))

    async def _refresh_counts(self) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for pool in self._pools:
                pipe.hgetall(self._counts(pool))
            rows = await pipe.execute()
        self._queued_counts = {priority: sum(max(0, int(row.get(priority, 0))) for row in rows)
                               for priority in PRIORITIES}

    async def _prune(self, *, min_idle_ms: int, only: str) -> None:
        for stream, *_ in self._streams:
            with contextlib.suppress(ResponseError):  # a stream not made yet
                await self._scripts["PRUNE"](keys=[stream], args=[GROUP, min_idle_ms, only])

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


def _unreachable() -> ServiceUnavailable:
    return ServiceUnavailable("the task queue (Redis) cannot be reached", retry_after_s=5)


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


# -- records as hashes -------------------------------------------------------------------
def _iso(moment: datetime) -> str:
    # Not units.iso_utc, the wire format: a stored record must read back to the same datetime
    # (fromisoformat), so it keeps its microseconds and its offset.
    return moment.isoformat()


def _to_fields(record: TaskRecord, pool: str) -> dict[str, str]:
    return {"task_id": record.task_id, "type": record.type, "action": record.action,
            "priority": record.priority, "pool": pool, "status": record.status,
            "data": orjson.dumps(record.data).decode(), "created_at": _iso(record.created_at),
            "progress": "0", "attempts": "0", "from_cache": "0",
            "expected_s": repr(record.expected_s), "enqueued_at_s": repr(record.enqueued_at_s)}


def _outcome_fields(record: TaskRecord) -> dict[str, str]:
    finished_at = record.finished_at or datetime.now(UTC)
    return {"status": record.status, "finished_at": _iso(finished_at),
            "progress": repr(record.progress), "from_cache": "1" if record.from_cache else "0",
            "result": orjson.dumps(record.result).decode(),
            "error": orjson.dumps(record.error).decode()}


def _from_fields(fields: dict[str, str]) -> TaskRecord:
    def moment(name: str) -> datetime | None:
        value = fields.get(name)
        return datetime.fromisoformat(value) if value else None

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
        enqueued_at_s=float(fields.get("enqueued_at_s", 0)))


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _flatten(fields: dict[str, str]) -> Iterable[str]:
    for name, value in fields.items():
        yield name
        yield value
