"""The task manager: accepts tasks, runs them on `tasks.workers` asyncio workers with
timeouts and cancellation, and reports them as OpenTelemetry metrics. Records and the queue live
in a store: in this process (store.py) or in Redis (redis_store.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from pydantic import BaseModel

from polyad.background import stop_tasks
from polyad.cache import Cache, task_result_key
from polyad.config import Config, TasksConfig
from polyad.errors import NotFound, ServiceUnavailable, ValidationError
from polyad.health import HealthBoard
from polyad.snapshot import Snapshot
from polyad.tasks.backend import Cursor, Page, Pool, TaskStore
from polyad.tasks.estimates import Durations, busy_workers, left_s
from polyad.tasks.idempotency import (
    Claimed,
    IdempotencyKeys,
    MemoryKeys,
    RedisKeys,
    fingerprint,
)
from polyad.tasks.model import PRIORITIES, Priority, Status, TaskRecord
from polyad.tasks.placement import fits_here, has_gpu, why_never_here
from polyad.tasks.registry import Handler, HandlerRegistry, TaskContext
from polyad.tasks.store import MemoryTaskStore

if TYPE_CHECKING:  # redis-py is loaded only when a part uses Redis
    from polyad.redis_link import RedisLink

__all__ = ["TaskManager", "build_store"]

log = structlog.get_logger(logger_name="polyad.tasks")
_WAIT_BUCKETS_S = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)
_MAX_ERROR_CHARS = 500
_GPU_FULL_WAIT_S = 2.0   # a GPU task had no room here: leave the GPU pool to others this long


def build_keys(config: Config, link: RedisLink | None = None) -> IdempotencyKeys:
    """Idempotency keys kept where the tasks are."""
    if config.tasks.backend == "redis":
        assert link is not None, "tasks.backend redis needs the agent's Redis link"
        return RedisKeys(link)
    return MemoryKeys()


def build_store(config: Config, health: HealthBoard, link: RedisLink | None = None) -> TaskStore:
    """`link`: the agent's Redis, there when some part uses it (tasks.backend redis among them)."""
    if config.tasks.backend == "redis":
        # imported only when chosen: redis-py is 5 MB of an agent's resident memory
        from polyad.tasks.redis_store import RedisTaskStore

        assert link is not None, "tasks.backend redis needs the agent's Redis link"
        return RedisTaskStore(config.tasks, link, health,
                              replicas_to_ack=config.redis.replicas_to_ack)
    return MemoryTaskStore(config.tasks.aging.model_dump(), retention_s=config.tasks.retention,
                           max_records=config.tasks.max_records)


class TaskManager:
    def __init__(self, config: TasksConfig, registry: HandlerRegistry,
                 snapshot: Callable[[], Snapshot | None], meter: Meter,
                 store: TaskStore, cache: Cache, keys: IdempotencyKeys | None = None) -> None:
        self._config = config
        self._keys: IdempotencyKeys = keys or MemoryKeys()
        self._cache = cache
        self._registry = registry
        self._snapshot = snapshot
        self._store = store
        self._durations = Durations()
        self._running: dict[str, asyncio.Task[Any]] = {}
        self._records: dict[str, TaskRecord] = {}   # what runs here, with its live progress
        self._lost: set[str] = set()                # ... and what another agent took over
        self._deadlines: dict[str, asyncio.TimerHandle] = {}  # queued here, with a deadline
        self._expiring: set[asyncio.Task[None]] = set()
        self._gpu_full_until_s = 0.0   # a GPU task found no room here: the GPU pool waits
        self._workers: list[asyncio.Task[None]] = []
        self._accepting = False
        # Told of each state a task reaches here: queued, running, and its end (the live stream)
        self.listeners: list[Callable[[TaskRecord], None]] = []
        self._instruments(meter)

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        await self._store.open(on_cancel=self._cancel_here, on_lost=self._lost_here,
                               serves_gpu=self._serves_gpu)
        self._accepting = True
        self._workers = [asyncio.create_task(self._work(), name=f"polyad-task-worker-{index}")
                         for index in range(self._config.workers)]

    async def stop(self) -> None:
        """Stop accepting; let running tasks finish within the grace period; then stop them
        and hand them back (queued again in Redis; cancelled in memory, where queued tasks are
        lost with the process, as the README says)."""
        self._accepting = False
        for timer in self._deadlines.values():
            timer.cancel()
        if self._running:
            await asyncio.wait(list(self._running.values()),
                               timeout=self._config.shutdown_grace)
        await stop_tasks([*self._workers, *self._expiring])
        await self._store.close()

    # -- the API's verbs ---------------------------------------------------------------------
    def handler(self, task_type: str, action: str) -> Handler:
        return self._registry[(task_type, action)]

    def register(self, handler: Handler) -> None:
        """Adds a handler at run time (an embedding application's own work)."""
        self._registry.add(handler)

    def handlers(self) -> list[Handler]:
        return sorted(self._registry.values(), key=lambda handler: handler.key)

    async def submit(self, handler: Handler, data: BaseModel, priority: Priority,
                     idempotency_key: str | None = None, *, timeout_s: float | None = None,
                     deadline_s: float | None = None) -> tuple[TaskRecord, bool]:
        """The task queued, and False; or, for an idempotency key (scoped to its identity,
        see tasks/idempotency.py) that named a task already, that task and True. The same key
        with another request is a 422; so are a timeout over the handler's and a deadline
        already past (`deadline_s`: Unix time)."""
        if not self._accepting:
            raise ServiceUnavailable("the agent is shutting down", retry_after_s=5)
        now_s = time.time()
        _check_limits(handler, timeout_s, deadline_s, now_s)
        pool = self._pool(handler)
        record = TaskRecord(task_id=os.urandom(16).hex(), type=handler.type,
                            action=handler.action, priority=priority,
                            data=data.model_dump(mode="json"), enqueued_at_s=now_s,
                            timeout_s=timeout_s, deadline_s=deadline_s,
                            declared_s=handler.declared(data))
        if idempotency_key is not None:
            earlier = await self._claim(idempotency_key, record)
            if earlier is not None:
                return earlier, True
        record.expected_s = self._durations.expected_s(handler.key, handler.estimate_s,
                                                       record.declared_s)
        try:
            await self._store.add(record, pool=pool,
                                  busy_s=self._busy_workers(now_s),
                                  max_queued=self._config.max_queued)
        except BaseException:
            if idempotency_key is not None:   # not queued: a retry with the key may queue it
                with contextlib.suppress(Exception):
                    await self._keys.release(idempotency_key)
            raise
        self._tell(record)
        if deadline_s is not None:
            self._expire_at(record.task_id, deadline_s)
        return record, False

    def _pool(self, handler: Handler) -> Pool:
        """Where its task waits (backend.Pool); a 422 for a GPU task this host could never
        run when no other agent could take it."""
        runs_here = not self._store.shares or handler.host_bound
        if handler.gpu and runs_here:
            snapshot = self._snapshot()
            if snapshot is None:  # just started: whether a GPU answers is not known yet
                raise ServiceUnavailable("no sample of the host yet", retry_after_s=1)
            if why := why_never_here(handler, snapshot):
                where = ("a host-bound handler runs here only" if self._store.shares else
                         "with tasks.backend memory there is no shared pool to send it to")
                raise ValidationError(f"{why}; {where}")
        if runs_here:
            return "own"
        return "gpu" if handler.gpu else "shared"

    def _serves_gpu(self) -> bool:
        """Claim from the GPU pool: a GPU answers here, and none of its tasks found no room
        here lately."""
        return time.monotonic() >= self._gpu_full_until_s and has_gpu(self._snapshot())

    def _busy_workers(self, now_s: float) -> list[float]:
        """Each worker's time until free, soonest first (see tasks/estimates.py)."""
        return busy_workers((left_s(record, now_s) for record in self._records.values()
                             if record.status == "running"), self._config.workers)

    def _expire_at(self, task_id: str, deadline_s: float) -> None:
        """At its deadline a task still queued ends `expired`, whether or not a worker is free
        to notice; a worker taking it later than that (after a restart) ends it too."""
        loop = asyncio.get_running_loop()

        def expire() -> None:
            self._deadlines.pop(task_id, None)
            expiring = asyncio.create_task(self._expire(task_id))
            self._expiring.add(expiring)
            expiring.add_done_callback(self._expiring.discard)

        self._deadlines[task_id] = loop.call_later(max(0.0, deadline_s - time.time()), expire)

    async def _expire(self, task_id: str) -> None:
        try:
            record = await self._store.expire(task_id)
        except ServiceUnavailable:  # Redis away: the worker that takes it ends it
            return
        except Exception:  # a bug here must not go unseen, nor stop anything else
            log.exception("task expiry failed", task_id=task_id)
            return
        if record is not None:
            self._completed(record)

    async def _claim(self, key: str, record: TaskRecord) -> TaskRecord | None:
        request = {"type": record.type, "action": record.action, "data": record.data,
                   "priority": record.priority, "timeout": record.timeout_s,
                   "deadline": record.deadline_s}
        mine = Claimed(record.task_id, fingerprint(request))
        earlier = await self._keys.claim(key, mine, self._config.idempotency_ttl)
        if earlier is None:
            return None
        if earlier.fingerprint != mine.fingerprint:
            raise ValidationError("this Idempotency-Key was used with another request: use a "
                                  "new key for a new task", errors=[{
                                      "field": "Idempotency-Key",
                                      "message": "used with another request"}])
        found = self._records.get(earlier.task_id) or await self._store.get(earlier.task_id)
        if found is not None:
            return found
        # past the task's retention (or still being queued by a concurrent request): its id
        return TaskRecord(task_id=earlier.task_id, type=record.type, action=record.action,
                          priority=record.priority, data=record.data, enqueued_at_s=time.time(),
                          timeout_s=record.timeout_s, deadline_s=record.deadline_s)

    async def get(self, task_id: str) -> TaskRecord:
        record = self._records.get(task_id) or await self._store.get(task_id)
        if record is None:
            raise NotFound(f"no task {task_id} (unknown, or past its retention)")
        return record

    async def newest(self, *, status: Status | None, task_type: str | None, limit: int,
                     after: Cursor | None = None) -> Page:
        return await self._store.newest(status=status, task_type=task_type, limit=limit,
                                        after=after)

    async def delete(self, task_id: str) -> TaskRecord | None:
        """A finished task's record is deleted (None); a queued or running one is cancelled
        instead, as DELETE always did (its record, cancelled)."""
        if await self._store.remove(task_id):
            return None
        return await self.cancel(task_id)

    async def cancel(self, task_id: str) -> TaskRecord:
        """A queued task is cancelled at once; a running one is cancelled cooperatively by the
        agent running it (this one, or another on the same Redis)."""
        record = await self._store.cancel(task_id)
        if record.status == "cancelled":
            self._completed(record)
        self._cancel_here(task_id)
        return self._records.get(task_id, record)

    def _cancel_here(self, task_id: str) -> None:
        """Its coroutine gets CancelledError; the worker records the outcome."""
        execution = self._running.get(task_id)
        if execution is not None:
            execution.cancel()

    def _lost_here(self, task_id: str) -> None:
        """Another agent runs it now: stop it here, and record nothing."""
        self._lost.add(task_id)
        self._cancel_here(task_id)

    # -- running -----------------------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            record = await self._store.take()
            self._records[record.task_id] = record
            if (timer := self._deadlines.pop(record.task_id, None)) is not None:
                timer.cancel()
            try:
                handler = self._registry.get((record.type, record.action))
                if _past_deadline(record):
                    record.expire()
                    await self._finish(record)
                    continue
                if handler is not None and not self._room_for(handler):
                    await self._store.hand_back(record)
                    continue
                self._tell(record)
                if handler is None:  # unregistered since it was accepted (a plugin went away)
                    record.finish("failed", error={"type": "not_registered",
                                                   "message": f"no handler for {record.type}."
                                                              f"{record.action}"})
                    await self._finish(record)
                else:
                    await self._run(handler, record)
            except Exception:  # a bug in the bookkeeping must not take a worker down
                log.exception("task worker error", task_id=record.task_id)
                if not record.finished:
                    record.finish("failed", error={"type": "internal",
                                                   "message": "the agent failed to run it"})
                # stored once whatever failed, or it would stay "running" (a no-op if it was)
                with contextlib.suppress(Exception):
                    await self._store.finish(record)
            finally:
                self._records.pop(record.task_id, None)
                self._lost.discard(record.task_id)

    def _room_for(self, handler: Handler) -> bool:
        """A GPU task from the GPU pool runs where its GPU memory is free now; without that it
        goes back to the pool for another agent, and this one leaves the pool alone a while."""
        if not handler.gpu or handler.host_bound or not self._store.shares:
            return True
        if fits_here(handler, self._snapshot()):
            return True
        self._gpu_full_until_s = time.monotonic() + _GPU_FULL_WAIT_S
        log.info("no room on a GPU here for the task; handed back", handler=handler.key)
        return False

    async def _run(self, handler: Handler, record: TaskRecord) -> None:
        self._wait_histogram.record(max(0.0, time.time() - record.enqueued_at_s),
                                    {"priority": record.priority})
        started = time.monotonic()
        execution = asyncio.create_task(self._execute(handler, record))
        self._running[record.task_id] = execution
        try:
            # wait() rather than await: a DELETE cancels the execution, not this worker
            await asyncio.wait({execution})
        except asyncio.CancelledError:  # the worker itself is stopping: so does its task
            execution.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await execution
            await asyncio.shield(self._store.hand_back(record))
            raise
        finally:
            self._running.pop(record.task_id, None)
            duration_s = time.monotonic() - started
        if record.task_id in self._lost:
            return
        if execution.cancelled():
            record.finish("cancelled")
        await self._finish(record)
        if record.status == "succeeded" and not record.from_cache:
            self._durations.observe(handler.key, handler.estimate_s, record.declared_s,
                                    duration_s)
        self._duration_histogram.record(duration_s, {"type": record.type,
                                                     "action": record.action})

    async def _finish(self, record: TaskRecord) -> None:
        if await self._store.finish(record):
            self._completed(record)

    async def _execute(self, handler: Handler, record: TaskRecord) -> None:
        context = TaskContext(record.task_id, self._snapshot,
                              lambda progress: _set_progress(record, progress), self._cache)
        cache_key = (task_result_key(record.type, record.action, record.data)
                     if handler.cacheable else None)
        timeout_s = record.timeout_s or handler.timeout_s
        try:
            data = handler.data_model.model_validate(record.data)
            record.declared_s = handler.declared(data)
            if cache_key and (cached := await self._cache.get(cache_key)) is not None:
                record.from_cache = True
                record.finish("succeeded", result=cached)
                return
            result = await asyncio.wait_for(handler.run(context, data), timeout_s)
            orjson.dumps(result)  # a result the API cannot serve is a failure, said now
            if cache_key:
                await self._cache.set(cache_key, result, handler.cache_ttl_s)
        except TimeoutError:
            record.finish("failed", error={"type": "timeout", "message":
                                           f"no result within {timeout_s:g}s"})
        except (orjson.JSONEncodeError, TypeError) as error:
            record.finish("failed", error={"type": "bad_result", "message": str(error)})
        except Exception as error:
            log.warning("task failed", task_id=record.task_id, handler=handler.key,
                        error=f"{type(error).__name__}: {error}", exc_info=True)
            record.finish("failed", error={"type": type(error).__name__,
                                           "message": str(error)[:_MAX_ERROR_CHARS]})
        else:
            record.finish("succeeded", result=result)

    # -- telemetry -------------------------------------------------------------------------
    def _instruments(self, meter: Meter) -> None:
        self._completed_counter = meter.create_counter(
            "polyad.tasks.completed", unit="{task}", description="Tasks that reached an end")
        self._duration_histogram = meter.create_histogram(
            "polyad.task.duration", unit="s", description="Time tasks ran",
            explicit_bucket_boundaries_advisory=list(_WAIT_BUCKETS_S))
        self._wait_histogram = meter.create_histogram(
            "polyad.task.wait", unit="s", description="Time tasks waited in the queue",
            explicit_bucket_boundaries_advisory=list(_WAIT_BUCKETS_S))
        meter.create_observable_gauge("polyad.tasks.queued", [self._observe_queued],
                                      unit="{task}", description="Tasks waiting, by priority")
        meter.create_observable_gauge(
            "polyad.tasks.running", [lambda _: [Observation(len(self._running))]],
            unit="{task}", description="Tasks running now")

    def _observe_queued(self, _: CallbackOptions) -> Iterable[Observation]:
        counts = self._store.queued_by_priority()
        return [Observation(counts.get(priority, 0), {"priority": priority})
                for priority in PRIORITIES]

    def _completed(self, record: TaskRecord) -> None:
        self._completed_counter.add(1, {"type": record.type, "action": record.action,
                                        "status": record.status})
        self._tell(record)

    def _tell(self, record: TaskRecord) -> None:
        for listener in self.listeners:
            try:
                listener(record)
            except Exception:  # a reader's bug must not fail the task
                log.exception("task listener failed", task_id=record.task_id)


def _check_limits(handler: Handler, timeout_s: float | None, deadline_s: float | None,
                  now_s: float) -> None:
    if timeout_s is not None and timeout_s > handler.timeout_s:
        raise ValidationError(
            f"timeout is over {handler.key}'s own limit of {handler.timeout_s:g}s",
            errors=[{"field": "timeout", "message": f"at most {handler.timeout_s:g}"}])
    if deadline_s is not None and deadline_s <= now_s:
        raise ValidationError("the deadline has already passed", errors=[{
            "field": "deadline", "message": "in the past"}])


def _past_deadline(record: TaskRecord) -> bool:
    """Taken for its first start past its deadline (a task started before and taken over
    after a crash runs again: its deadline was to start by)."""
    return (record.deadline_s is not None and record.attempts == 1
            and time.time() > record.deadline_s)


def _set_progress(record: TaskRecord, progress: float) -> None:
    record.progress = round(min(1.0, max(0.0, progress)), 4)
