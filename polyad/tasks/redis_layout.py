"""Where the Redis task queue keeps what, under `redis.prefix` (P):

- `P tasks:{pool}:{priority}`: one stream per pool and priority, consumer group `polyad`. A pool
  is `host:{tasks.agent_id}` (host-bound handlers: only this host's agent runs them), `shared`
  (any agent on this Redis may) or `gpu` (any agent there with room on a GPU: placement.py).
  Entries carry the task id and its enqueue time.
- `P tasks:{pool}:queued`: per priority, how many wait and their expected run time in all.
- `P task:{id}`: the record (a hash), expiring `tasks.retention` after it finishes.
- `P tasks:index`: task ids by creation time, for GET /tasks (trimmed to `tasks.max_records`).
- `P tasks:events`: a channel that says "work queued" and "cancel this task".
"""

from __future__ import annotations

from dataclasses import dataclass

from polyad.tasks.backend import Pool
from polyad.tasks.model import PRIORITIES

__all__ = ["GPU", "GROUP", "SHARED", "Layout", "Queue"]

GROUP = "polyad"
SHARED = "shared"
GPU = "gpu"


@dataclass(frozen=True, slots=True)
class Queue:
    """One stream this agent serves: its pool's counts, its priority and aging penalty."""

    stream: str
    counts: str
    priority: str
    penalty_ms: int


class Layout:
    def __init__(self, prefix: str, agent_id: str, penalties_s: dict[str, float]) -> None:
        self.prefix = prefix
        self.own_pool = f"host:{agent_id}"
        self.pools = (self.own_pool, SHARED)   # what every agent serves; GPU, only some
        self.index = f"{prefix}tasks:index"
        self.channel = f"{prefix}tasks:events"
        self.counts_prefix = f"{prefix}tasks:"
        self.record_prefix = f"{prefix}task:"
        # every stream this agent serves, highest priority first within each pool; the GPU
        # pool's, when it has room on a GPU
        self.queues = tuple(Queue(self.stream(pool, priority), self.counts(pool), priority,
                                  round(penalties_s[priority] * 1000))
                            for pool in self.pools for priority in PRIORITIES)
        self.gpu_queues = tuple(Queue(self.stream(GPU, priority), self.counts(GPU), priority,
                                      round(penalties_s[priority] * 1000))
                                for priority in PRIORITIES)

    def stream(self, pool: str, priority: str) -> str:
        return f"{self.prefix}tasks:{pool}:{priority}"

    def counts(self, pool: str) -> str:
        return f"{self.counts_prefix}{pool}:queued"

    def record(self, task_id: str) -> str:
        return f"{self.record_prefix}{task_id}"

    def pool_name(self, pool: Pool) -> str:
        return {"own": self.own_pool, "shared": SHARED, "gpu": GPU}[pool]

    def pool_of(self, stream: str) -> str:
        return next(pool for pool in (*self.pools, GPU)
                    if stream.startswith(self.stream(pool, "")))
