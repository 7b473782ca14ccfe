"""The tasks this agent runs and the stream entries that hold them: renewed every lease/3 while
the agent still owns them; taken over from agents that stopped renewing theirs.

At least once: a claimed entry stays in the group's pending list, owned by this agent's consumer,
until the task finishes. The renewal resets the entry's idle time; an entry idle past the lease
belongs to a dead agent and is taken over (XAUTOCLAIM, following its cursor) by an agent with a
free worker. Each start counts as an attempt; past `tasks.max_attempts` the task fails instead
of running again, so a task that kills its agent cannot kill every agent in turn.
"""

from __future__ import annotations

import contextlib
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import structlog
from redis.exceptions import ResponseError

from polyad.config import TasksConfig
from polyad.redis_link import Client
from polyad.tasks.model import TaskRecord
from polyad.tasks.redis_layout import GROUP, Layout
from polyad.tasks.redis_records import from_fields, pairs, stamp
from polyad.tasks.redis_scripts import PRUNE, RECLAIM, RENEW, ScriptRunner

__all__ = ["Lease", "Leases"]

log = structlog.get_logger(logger_name="polyad.tasks")
OnTask = Callable[[str], None]


@dataclass(slots=True)
class Lease:
    """A task this agent runs: its record and the stream entry that holds it pending."""

    record: TaskRecord
    stream: str
    entry_id: str


class Leases:
    def __init__(self, config: TasksConfig, layout: Layout, consumer: str,
                 run: ScriptRunner) -> None:
        self.owned: dict[str, Lease] = {}
        self.reclaimed: deque[Lease] = deque()   # taken over, waiting for a free worker
        self._config = config
        self._layout = layout
        self._consumer = consumer
        self._run = run
        self._cursors: dict[str, str] = {}
        self._abandoned = orjson.dumps({
            "type": "abandoned",
            "message": f"its agent stopped while running it, {config.max_attempts} times: "
                       "not tried again"}).decode()

    @property
    def retention_s(self) -> int:
        return max(1, math.ceil(self._config.retention))

    async def renew(self, client: Client, on_cancel: OnTask, on_lost: OnTask) -> None:
        """Every lease held, in one round trip; a lease another agent took over is dropped
        (`on_lost`), a cancel asked meanwhile is passed on (`on_cancel`)."""
        leases = list(self.owned.values())
        if not leases:
            return
        async with client.pipeline(transaction=False) as pipe:
            for lease in leases:
                await self._run(RENEW, {"stream": lease.stream,
                                        "record": self._layout.record(lease.record.task_id)},
                                {"group": GROUP, "consumer": self._consumer,
                                 "entry_id": lease.entry_id, "progress": lease.record.progress},
                                client=pipe)
            replies = await pipe.execute()
        for lease, reply in zip(leases, replies, strict=True):
            task_id = lease.record.task_id
            if reply == 0 and self.owned.pop(task_id, None) is not None:
                log.warning("task lease lost: another agent took it over", task_id=task_id)
                on_lost(task_id)
            elif reply == 2:
                on_cancel(task_id)

    async def reclaim(self, idle_workers: int, *, gpu: bool = False) -> int:
        """One take-over per idle worker, highest priority first (the GPU pool's too, with
        `gpu`); the cursor of each stream is followed so entries deep in a long pending list
        are reached too. Returns how many wait in `reclaimed`."""
        free = idle_workers - len(self.reclaimed)
        held = [*self.owned.values(), *self.reclaimed]
        for queue in self._layout.queues + (self._layout.gpu_queues if gpu else ()):
            if free <= 0:
                break
            cursor, *entries = await self._run.remaking(RECLAIM, {"stream": queue.stream}, {
                "group": GROUP, "consumer": self._consumer,
                "min_idle_ms": round(self._config.lease * 1000),
                "cursor": self._cursors.get(queue.stream, "0-0"), "count": free,
                "prefix": self._layout.record_prefix, "now": stamp(datetime.now(UTC)),
                "max_attempts": self._config.max_attempts, "retention_s": self.retention_s,
                "abandoned": self._abandoned,
                "held": ",".join(lease.entry_id for lease in held
                                 if lease.stream == queue.stream)})
            self._cursors[queue.stream] = cursor
            for entry_id, outcome, fields in entries:
                record = from_fields(pairs(fields))
                if outcome == "run":
                    self.reclaimed.append(Lease(record, queue.stream, entry_id))
                    free -= 1
                    log.info("task taken over", task_id=record.task_id,
                             attempt=record.attempts)
                elif outcome == "done":
                    log.warning("task ended on take-over", task_id=record.task_id,
                                status=record.status, attempts=record.attempts)
        return len(self.reclaimed)

    async def prune(self, *, min_idle_ms: int, only: str) -> None:
        """Consumers idle that long that hold nothing (`only`: this one, or "" for any)."""
        for queue in self._layout.queues + self._layout.gpu_queues:
            with contextlib.suppress(ResponseError):  # a stream not made yet
                await self._run(PRUNE, {"stream": queue.stream},
                                {"group": GROUP, "min_idle_ms": min_idle_ms, "only": only})
