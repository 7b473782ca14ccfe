"""The task manager: accepts tasks, runs them on `tasks.workers` asyncio workers with
timeouts and cancellation, keeps their records, and reports them as OpenTelemetry metrics."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import structlog
from opentelemetry.metrics import CallbackOptions, Meter, Observation

from polyad.config import TasksConfig
from polyad.errors import Conflict, NotFound, ServiceUnavailable
from polyad.snapshot import Snapshot
from polyad.tasks.estimates import Durations
from polyad.tasks.model import PRIORITIES, Priority, Status, TaskRecord
from polyad.tasks.registry import Handler, HandlerRegistry, TaskContext
from polyad.tasks.store import MemoryTaskStore

__all__ = ["TaskManager"]

log = structlog.get_logger(logger_name="polyad.tasks")
_WAIT_BUCKETS_S = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)
_MAX_ERROR_CHARS = 500


class TaskManager:
    def __init__(self, config: TasksConfig, registry: HandlerRegistry,
                 snapshot: Callable[[], Snapshot | None], meter: Meter) -> None:
        self._config = config
        self._registry = registry
        self._snapshot = snapshot
        self._store = MemoryTaskStore(config.aging.model_dump(), retention_s=config.retention,
                                      max_records=config.max_records)
        self._durations = Durations()
        self._running: dict[str, asyncio.Task[Any]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._accepting = False
        self._instruments(meter)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._accepting = True
        self._workers = [asyncio.create_task(self._work(), name=f"polyad-task-worker-{index}")
                         for index in range(self._config.workers)]

    async def stop(self) -> None:
        """Stop accepting; let running tasks finish within the grace period; then cancel them.
        Queued tasks of the memory backend are lost with the process (the README says so)."""
        self._accepting = False
        if self._running:
            await asyncio.wait(list(self._running.values()),
                               timeout=self._config.shutdown_grace)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    # -- the API's verbs ---------------------------------------------------------------------
    def handler(self, task_type: str, action: str) -> Handler:
        return self._registry[(task_type, action)]

    def register(self, handler: Handler) -> None:
        """Adds a handler at run time (an embedding application's own work)."""
        self._registry.add(handler)

    def handlers(self) -> list[Handler]:
        return sorted(self._registry.values(), key=lambda handler: handler.key)

    async def submit(self, handler: Handler, data: dict[str, Any],
                     priority: Priority) -> TaskRecord:
        if not self._accepting:
            raise ServiceUnavailable("the agent is shutting down", retry_after_s=5)
        if self._store.queued >= self._config.max_queued:
            raise ServiceUnavailable(f"the task queue is full ({self._config.max_queued} queued)",
                                     retry_after_s=self._retry_after_s())
        record = TaskRecord(task_id=os.urandom(16).hex(), type=handler.type,
                            action=handler.action, priority=priority, data=data,
                            enqueued_at_s=time.monotonic())
        record.expected_s = self._durations.expected_s(handler.key, handler.estimate_s)
        ahead_s = self._store.work_ahead_s(priority) / self._config.workers
        record.estimated_s = ahead_s + record.expected_s
        await self._store.add(record, self._store.sort_key(record))
        return record

    def get(self, task_id: str) -> TaskRecord:
        record = self._store.get(task_id)
        if record is None:
            raise NotFound(f"no task {task_id} (unknown, or past its retention)")
        return record

    def newest(self, *, status: Status | None, task_type: str | None,
               limit: int) -> list[TaskRecord]:
        found = []
        for record in self._store.newest():
            if (status is None or record.status == status) and (
                    task_type is None or record.type == task_type):
                found.append(record)
                if len(found) >= limit:
                    break
        return found

    def cancel(self, task_id: str) -> TaskRecord:
        record = self.get(task_id)
        if record.finished:
            raise Conflict(f"task {task_id} already {record.status}")
        if record.status == "queued":
            self._store.cancel_queued(record)
            self._completed(record)
        else:  # running: its coroutine gets CancelledError; the worker records the outcome
            self._running[task_id].cancel()
        return record

    # -- running -----------------------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            record = await self._store.take()
            handler = self._registry.get((record.type, record.action))
            if handler is None:  # unregistered since it was accepted (a plugin went away)
                record.finish("failed", error={"type": "not_registered",
                                               "message": f"no handler for {record.type}."
                                                          f"{record.action}"})
                self._store.finished(record)
                continue
            try:
                await self._run(handler, record)
            except Exception:  # a bug in the bookkeeping must not take a worker down
                log.exception("task worker error", task_id=record.task_id)
                if not record.finished:
                    record.finish("failed", error={"type": "internal",
                                                   "message": "the agent failed to run it"})
                    self._store.finished(record)

    async def _run(self, handler: Handler, record: TaskRecord) -> None:
        self._wait_histogram.record(time.monotonic() - record.enqueued_at_s,
                                    {"priority": record.priority})
        record.start()
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
            record.finish("cancelled", error={"type": "shutdown",
                                              "message": "the agent stopped"})
            raise
        finally:
            self._running.pop(record.task_id, None)
            duration_s = time.monotonic() - started
        if execution.cancelled():
            record.finish("cancelled")
        if record.status == "succeeded":
            self._durations.observe(handler.key, handler.estimate_s, duration_s)
        self._duration_histogram.record(duration_s, {"type": record.type,
                                                     "action": record.action})
        self._store.finished(record)
        self._completed(record)

    async def _execute(self, handler: Handler, record: TaskRecord) -> None:
        context = TaskContext(record.task_id, self._snapshot,
                              lambda progress: _set_progress(record, progress))
        try:
            data = handler.data_model.model_validate(record.data)
            result = await asyncio.wait_for(handler.run(context, data), handler.timeout_s)
            orjson.dumps(result)  # a result the API cannot serve is a failure, said now
        except TimeoutError:
            record.finish("failed", error={"type": "timeout", "message":
                                           f"no result within {handler.timeout_s:g}s"})
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
    def _retry_after_s(self) -> int:
        """About when a slot frees: the queued work's average expected run time, per worker."""
        queued = max(1, self._store.queued)
        per_task_s = self._store.work_ahead_s("low") / queued
        return max(1, min(60, math.ceil(per_task_s / self._config.workers)))

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


def _set_progress(record: TaskRecord, progress: float) -> None:
    record.progress = round(min(1.0, max(0.0, progress)), 4)
