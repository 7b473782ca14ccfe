"""How long tasks take, and when one will be done.

A handler may declare how its duration follows from its data (`Handler.declared_s`:
`system.noop`'s `seconds`, `system.monitor`'s `duration`). Per handler, `Durations` learns the
ratio of the actual time to the declared one (a task that declares 2 s and has taken 2.1 s
before is expected to take 2.1 s), or, where nothing is declared, the duration itself: a mean of
the first runs, then an exponentially weighted one, so the handler's own first guess gives way
at the first real run.

A task waits for the workers: each is busy for the time left on what it runs, and the work
queued ahead of the task (at its priority or a higher one) goes to whichever frees first.
`start_after` says when the task starts; the Redis store's SUBMIT script does the same
arithmetic in Lua (redis_scripts.py), where the queue it counts lives.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from polyad.tasks.model import TaskRecord

__all__ = ["MIN_DECLARED_S", "Durations", "busy_workers", "left_s", "start_after"]

MIN_DECLARED_S = 0.05   # under this, a declared time says too little to scale by
_WEIGHT = 0.2           # of each new run, once the mean has seen 1/_WEIGHT runs
_PROGRESS_TRUSTED = 0.1  # from this progress on, a running task's own pace says its end


@dataclass
class _Learned:
    value: float
    runs: int = 0

    def observe(self, sample: float) -> None:
        self.runs += 1
        self.value += max(_WEIGHT, 1 / self.runs) * (sample - self.value)


class Durations:
    def __init__(self) -> None:
        self._ratios: dict[str, _Learned] = {}     # actual / declared, per handler
        self._durations: dict[str, _Learned] = {}  # seconds, when nothing (enough) is declared

    def expected_s(self, key: str, seed_s: float, declared_s: float | None) -> float:
        if declared_s is not None and declared_s >= MIN_DECLARED_S:
            ratio = self._ratios.get(key)
            return declared_s * (ratio.value if ratio is not None else 1.0)
        duration = self._durations.get(key)
        return duration.value if duration is not None else seed_s

    def observe(self, key: str, seed_s: float, declared_s: float | None,
                duration_s: float) -> None:
        if declared_s is not None and declared_s >= MIN_DECLARED_S:
            self._ratios.setdefault(key, _Learned(1.0)).observe(duration_s / declared_s)
        else:
            self._durations.setdefault(key, _Learned(seed_s)).observe(duration_s)


def busy_workers(left_on_running_s: Iterable[float], workers: int) -> list[float]:
    """Each worker's time until free, soonest first: the time left on each running task, and 0
    for the idle ones."""
    busy = sorted(max(0.0, left) for left in left_on_running_s)[:workers]
    return [0.0] * (workers - len(busy)) + busy


def start_after(work_ahead_s: float, busy_s: Sequence[float]) -> float:
    """When work queued behind `work_ahead_s` of other work starts, the workers busy for
    `busy_s` (soonest first): the level at which the work, poured onto the workers as each
    frees, is all taken."""
    freed_s = 0.0
    for count, busy in enumerate(busy_s, start=1):
        freed_s += busy
        level = (work_ahead_s + freed_s) / count
        if count == len(busy_s) or level <= busy_s[count]:
            return level
    return work_ahead_s


def left_s(record: TaskRecord, now_s: float | None = None) -> float:
    """Seconds until the task ends, as known now: for a queued task, the end its submission was
    promised, or at least its own run; for a running one, its expected run time less the time
    it has run, and once past that, its pace (from its progress; handlers report it now and
    then, so a pace lags: it is the second guess)."""
    if record.finished:
        return 0.0
    now_s = time.time() if now_s is None else now_s
    started_at = record.started_at
    if record.status == "queued" or started_at is None:
        return max(record.expected_s, record.enqueued_at_s + record.estimated_s - now_s)
    ran_s = max(0.0, now_s - started_at.timestamp())
    if ran_s < record.expected_s:
        return record.expected_s - ran_s
    if record.progress >= _PROGRESS_TRUSTED:
        return ran_s * (1 - record.progress) / record.progress
    return 0.0
