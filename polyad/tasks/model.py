"""A task's record: what was asked, where it stands, what came of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["FINISHED", "NOT_STARTED_IN_TIME", "PRIORITIES", "Priority", "Status", "TaskRecord"]

Priority = Literal["low", "normal", "high"]
Status = Literal["queued", "running", "succeeded", "failed", "cancelled", "expired"]
PRIORITIES: tuple[Priority, ...] = ("high", "normal", "low")
FINISHED: frozenset[Status] = frozenset({"succeeded", "failed", "cancelled", "expired"})
# the error of a task that was still queued at its deadline (status "expired")
NOT_STARTED_IN_TIME = {"type": "deadline", "message": "still queued at its deadline: not run"}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class TaskRecord:
    task_id: str
    type: str
    action: str
    priority: Priority
    data: dict[str, Any]
    status: Status = "queued"
    created_at: datetime = field(default_factory=_now)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: float = 0.0
    result: Any = None
    error: dict[str, str] | None = None
    from_cache: bool = False
    attempts: int = 0
    estimated_s: float = 0.0      # until done, counting the work queued ahead of it
    expected_s: float = 0.0       # its own expected run time
    enqueued_at_s: float = 0.0    # the event loop's clock when it was queued (for the wait)
    timeout_s: float | None = None    # the request's own, under the handler's
    deadline_s: float | None = None   # Unix time; still queued then, it ends "expired"
    declared_s: float | None = None   # what its data says it takes (not stored: data says it)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def expire(self) -> None:
        """Taken to run past its deadline: it ends without having started."""
        self.started_at = None
        self.attempts -= 1
        self.finish("expired", error=dict(NOT_STARTED_IN_TIME))

    def start(self) -> None:
        self.status, self.started_at = "running", _now()
        self.attempts += 1

    def finish(self, status: Status, *, result: Any = None,
               error: dict[str, str] | None = None) -> None:
        self.status, self.finished_at = status, _now()
        self.result, self.error = result, error
        if status == "succeeded":
            self.progress = 1.0
