"""The ready queue: priority order, FIFO within a priority, aging so low work never starves."""

from __future__ import annotations

import asyncio

from polyad.tasks.model import Priority, TaskRecord
from polyad.tasks.store import MemoryTaskStore

PENALTIES = {"high": 0.0, "normal": 30.0, "low": 60.0}


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def record(task_id: str, priority: Priority = "normal") -> TaskRecord:
    return TaskRecord(task_id=task_id, type="system", action="noop", priority=priority, data={})


async def drain(store: MemoryTaskStore) -> list[str]:
    taken = []
    while store.queued:
        taken.append((await store.take()).task_id)
    return taken


async def test_high_before_normal_before_low_and_fifo_within_each() -> None:
    clock = Clock()
    store = MemoryTaskStore(PENALTIES, retention_s=3600, max_records=100, clock=clock)
    for task_id, priority in [("l1", "low"), ("n1", "normal"), ("h1", "high"),
                              ("n2", "normal"), ("h2", "high"), ("l2", "low")]:
        item = record(task_id, priority)  # type: ignore[arg-type]
        await store.add(item, store.sort_key(item))
        clock.now_s += 1
    assert await drain(store) == ["h1", "h2", "n1", "n2", "l1", "l2"]


async def test_low_work_that_waited_out_the_gap_runs_before_fresh_high_work() -> None:
    clock = Clock()
    store = MemoryTaskStore(PENALTIES, retention_s=3600, max_records=100, clock=clock)
    old_low = record("old-low", "low")
    await store.add(old_low, store.sort_key(old_low))
    clock.now_s += 61  # waited longer than the low-vs-high penalty
    fresh_high = record("fresh-high", "high")
    await store.add(fresh_high, store.sort_key(fresh_high))
    assert await drain(store) == ["old-low", "fresh-high"]


async def test_cancelled_entries_are_skipped_and_take_waits_for_work() -> None:
    store = MemoryTaskStore(PENALTIES, retention_s=3600, max_records=100)
    first, second = record("a"), record("b")
    for item in (first, second):
        await store.add(item, store.sort_key(item))
    store.cancel_queued(first)
    assert store.queued == 1
    assert (await store.take()).task_id == "b"
    waiting = asyncio.create_task(store.take())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    third = record("c")
    await store.add(third, store.sort_key(third))
    assert (await asyncio.wait_for(waiting, 1)).task_id == "c"


async def test_finished_records_go_after_retention_and_beyond_max_records() -> None:
    clock = Clock()
    store = MemoryTaskStore(PENALTIES, retention_s=60, max_records=3, clock=clock)
    items = [record(f"t{index}") for index in range(4)]
    for item in items:
        await store.add(item, store.sort_key(item))
    for _ in range(2):
        taken = await store.take()
        taken.finish("succeeded")
        store.finished(taken)
    assert store.get("t0") is None  # 4 records > max 3: the oldest finished went first
    assert store.get("t1") is not None and store.get("t2") is not None
    clock.now_s += 61
    store.purge()
    assert store.get("t1") is None  # past retention
    assert store.get("t2") is not None  # still queued: never purged
