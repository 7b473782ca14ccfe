"""Both task stores, the same behaviour: priority order, FIFO within a priority, aging so low
work never starves, cancelled entries skipped, a waiting take woken by new work, retention."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest
import redis.asyncio as aioredis

from polyad.config import load_config
from polyad.errors import Conflict, NotFound, ServiceUnavailable
from polyad.health import HealthBoard
from polyad.redis_link import RedisLink
from polyad.tasks.backend import TaskStore
from polyad.tasks.model import Priority, TaskRecord
from polyad.tasks.redis_store import RedisTaskStore
from polyad.tasks.store import MemoryTaskStore
from tests.conftest import REDIS_URL, link_to
from tests.fakes.clock import FakeClock

PENALTIES = {"high": 0.0, "normal": 30.0, "low": 60.0}
MakeStore = Callable[..., Awaitable[TaskStore]]


def record(task_id: str, priority: Priority = "normal", at_s: float = 1000.0) -> TaskRecord:
    return TaskRecord(task_id=task_id, type="system", action="noop", priority=priority,
                      data={}, enqueued_at_s=at_s, expected_s=1.0)


async def add(store: TaskStore, item: TaskRecord, *, shared: bool = False,
              max_queued: int = 100, busy_s: Sequence[float] = (0.0,)) -> TaskRecord:
    await store.add(item, pool="shared" if shared else "own", busy_s=busy_s,
                    max_queued=max_queued)
    return item


async def drain(store: TaskStore, count: int) -> list[str]:
    taken = []
    for _ in range(count):
        item = await asyncio.wait_for(store.take(), 5)
        taken.append(item.task_id)
        item.finish("succeeded")
        assert await store.finish(item)
    return taken


@pytest.fixture(params=["memory", "redis"])
async def make_store(request: pytest.FixtureRequest,
                     redis_prefix: str) -> AsyncIterator[MakeStore]:
    opened: list[TaskStore] = []
    links: list[RedisLink] = []

    async def make(**tasks: object) -> TaskStore:
        config = load_config(environ={}, overrides={
            "tasks": {"backend": request.param, "agent_id": "agent-a", **tasks},
            "redis": {"url": REDIS_URL, "prefix": redis_prefix}})
        store: TaskStore
        if request.param == "redis":
            link = link_to(REDIS_URL, redis_prefix)
            links.append(link)
            store = RedisTaskStore(config.tasks, link, HealthBoard())
        else:
            store = MemoryTaskStore(PENALTIES, retention_s=config.tasks.retention,
                                    max_records=config.tasks.max_records)
        await store.open(on_cancel=lambda _: None, on_lost=lambda _: None)
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()
    for link in links:
        await link.close()


async def test_high_before_normal_before_low_and_fifo_within_each(make_store: MakeStore) -> None:
    store = await make_store()
    for offset, (task_id, priority) in enumerate([("l1", "low"), ("n1", "normal"),
                                                  ("h1", "high"), ("n2", "normal"),
                                                  ("h2", "high"), ("l2", "low")]):
        await add(store, record(task_id, priority, 1000.0 + offset))  # type: ignore[arg-type]
    assert await drain(store, 6) == ["h1", "h2", "n1", "n2", "l1", "l2"]


async def test_low_work_that_waited_out_the_gap_runs_before_fresh_high_work(
    make_store: MakeStore,
) -> None:
    store = await make_store()
    await add(store, record("old-low", "low", at_s=1000.0))
    await add(store, record("fresh-high", "high", at_s=1061.0))  # waited longer than the gap
    assert await drain(store, 2) == ["old-low", "fresh-high"]


async def test_a_taken_task_is_running_with_one_attempt(make_store: MakeStore) -> None:
    store = await make_store()
    await add(store, record("a"))
    taken = await asyncio.wait_for(store.take(), 5)
    assert (taken.status, taken.attempts) == ("running", 1)
    assert taken.started_at is not None
    stored = await store.get("a")
    assert stored is not None and stored.status == "running"


async def test_cancelled_entries_are_skipped_and_take_waits_for_work(
    make_store: MakeStore,
) -> None:
    store = await make_store()
    await add(store, record("a"))
    await add(store, record("b", at_s=1001.0))
    cancelled = await store.cancel("a")
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    with pytest.raises(Conflict):
        await store.cancel("a")
    with pytest.raises(NotFound):
        await store.cancel("f" * 32)
    assert await drain(store, 1) == ["b"]
    waiting = asyncio.create_task(store.take())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await add(store, record("c"))
    assert (await asyncio.wait_for(waiting, 2)).task_id == "c"


async def test_the_bound_refuses_with_retry_after_and_estimates_count_work_ahead(
    make_store: MakeStore,
) -> None:
    store = await make_store()
    first = await add(store, record("a"), max_queued=2)
    second = await add(store, record("b"), max_queued=2)
    assert first.estimated_s == pytest.approx(1.0)
    assert second.estimated_s == pytest.approx(2.0)  # one second of work ahead, one worker
    with pytest.raises(ServiceUnavailable) as refused:
        await add(store, record("c"), max_queued=2)
    assert "full" in refused.value.detail
    assert int(refused.value.headers["Retry-After"]) >= 1
    assert await store.get("c") is None


async def test_an_estimate_waits_for_the_first_worker_free(make_store: MakeStore) -> None:
    """The same arithmetic in memory and in the Redis script: the work ahead goes to the
    workers as each frees (tasks/estimates.py)."""
    store = await make_store()
    # two workers, free in 0.5 s and 2 s
    first = await add(store, record("a"), busy_s=[0.5, 2.0])
    second = await add(store, record("b"), busy_s=[0.5, 2.0])
    assert first.estimated_s == pytest.approx(0.5 + 1.0)
    assert second.estimated_s == pytest.approx(1.5 + 1.0)  # after "a", on the first worker
    stored = await store.get("b")
    assert stored is not None and stored.estimated_s == pytest.approx(2.5)


async def test_newest_first_filtered_and_bounded(make_store: MakeStore) -> None:
    store = await make_store()
    for index in range(4):
        await add(store, record(f"t{index}", at_s=1000.0 + index))
        await asyncio.sleep(0.002)  # creation times differ
    await drain(store, 2)
    succeeded = await store.newest(status="succeeded", task_type=None, limit=10)
    assert [item.task_id for item in succeeded.records] == ["t1", "t0"]
    assert succeeded.next is None
    newest = await store.newest(status=None, task_type="system", limit=3)
    assert [item.task_id for item in newest.records] == ["t3", "t2", "t1"]
    assert newest.next is not None and newest.next.task_id == "t1"
    rest = await store.newest(status=None, task_type="system", limit=3, after=newest.next)
    assert [item.task_id for item in rest.records] == ["t0"] and rest.next is None
    assert (await store.newest(status=None, task_type="vision", limit=3)).records == []


async def test_finished_records_go_after_retention_and_beyond_max_records() -> None:
    clock = FakeClock()
    store = MemoryTaskStore(PENALTIES, retention_s=60, max_records=3, clock=clock)
    for index in range(4):
        await add(store, record(f"t{index}"))
    await drain(store, 2)
    assert await store.get("t0") is None  # 4 records > max 3: the oldest finished went first
    assert await store.get("t1") is not None and await store.get("t2") is not None
    clock.advance(61)
    store.purge()
    assert await store.get("t1") is None  # past retention
    assert await store.get("t2") is not None  # still queued: never purged


# -- Redis only: what outlives an agent ------------------------------------------------------
@pytest.fixture
async def redis_store(redis_prefix: str) -> AsyncIterator[Callable[..., Awaitable[
        RedisTaskStore]]]:
    opened: list[RedisTaskStore] = []
    links: list[RedisLink] = []

    async def make(agent_id: str = "agent-a", **tasks: object) -> RedisTaskStore:
        config = load_config(environ={}, overrides={
            "tasks": {"backend": "redis", "agent_id": agent_id, **tasks},
            "redis": {"url": REDIS_URL, "prefix": redis_prefix}})
        link = link_to(REDIS_URL, redis_prefix)
        links.append(link)
        store = RedisTaskStore(config.tasks, link, HealthBoard())
        events: list[tuple[str, str]] = []
        await store.open(on_cancel=lambda task_id: events.append(("cancel", task_id)),
                         on_lost=lambda task_id: events.append(("lost", task_id)))
        store.events = events  # type: ignore[attr-defined]
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()
    for link in links:
        await link.close()


async def stop_heartbeat(store: RedisTaskStore) -> None:
    """As if the agent were killed: its leases are no longer renewed."""
    assert store._upkeeper is not None
    store._upkeeper.cancel()
    await asyncio.gather(store._upkeeper, return_exceptions=True)


async def test_a_task_of_a_dead_agent_is_taken_over_after_the_lease(
    redis_store: Callable[..., Awaitable[RedisTaskStore]],
) -> None:
    dead = await redis_store(lease=1)
    await add(dead, record("a", at_s=time.time()))
    assert (await dead.take()).attempts == 1
    await stop_heartbeat(dead)
    heir = await redis_store(lease=1)  # the same host's agent, started again
    started = time.monotonic()
    taken = await asyncio.wait_for(heir.take(), 5)
    assert taken.task_id == "a" and taken.attempts == 2
    assert time.monotonic() - started >= 0.5  # not before the lease ran out
    taken.finish("succeeded", result={"ok": True})
    assert await heir.finish(taken)
    assert not await dead.finish(taken)  # the dead agent's late outcome is refused
    done = await heir.get("a")
    assert done is not None and (done.status, done.result) == ("succeeded", {"ok": True})


async def test_a_claim_whose_reply_was_lost_runs_here_without_another_attempt(
    redis_store: Callable[..., Awaitable[RedisTaskStore]],
) -> None:
    store = await redis_store(lease=1)
    await add(store, record("a", at_s=time.time()))
    # Redis ran the claim but the reply never arrived (paused or restarted mid-call): the
    # entry is this agent's, pending, with nobody working on it
    assert await store._claim() is not None
    taken = await asyncio.wait_for(store.take(), 5)
    assert (taken.task_id, taken.attempts) == ("a", 1)  # it never started before
    taken.finish("succeeded")
    assert await store.finish(taken)
    done = await store.get("a")
    assert done is not None and (done.status, done.attempts) == ("succeeded", 1)


async def test_a_task_that_keeps_killing_agents_fails_after_max_attempts(
    redis_store: Callable[..., Awaitable[RedisTaskStore]],
) -> None:
    first = await redis_store(lease=1, max_attempts=1)
    await add(first, record("a", at_s=time.time()))
    await first.take()
    await stop_heartbeat(first)
    second = await redis_store(lease=1, max_attempts=1)
    waiting = asyncio.create_task(second.take())
    for _ in range(50):
        stored = await second.get("a")
        if stored is not None and stored.status == "failed":
            break
        await asyncio.sleep(0.1)
    assert stored is not None and stored.error is not None
    assert (stored.status, stored.error["type"], stored.attempts) == ("failed", "abandoned", 1)
    assert not waiting.done()  # it was not run again
    waiting.cancel()


async def test_a_renewing_agent_keeps_its_task_and_hands_it_back_on_stop(
    redis_store: Callable[..., Awaitable[RedisTaskStore]],
) -> None:
    owner = await redis_store(lease=1)
    other = await redis_store(lease=1)
    await add(owner, record("a", at_s=time.time()))
    taken = await owner.take()
    waiting = asyncio.create_task(other.take())
    await asyncio.sleep(2.0)  # twice the lease: renewals keep it with its owner
    assert not waiting.done()
    await owner.hand_back(taken)
    again = await asyncio.wait_for(waiting, 3)
    assert again.task_id == "a" and again.attempts == 1  # a stop is not a failed attempt


async def test_shared_work_goes_to_any_agent_and_host_bound_work_stays_home(
    redis_store: Callable[..., Awaitable[RedisTaskStore]],
) -> None:
    home = await redis_store("agent-a")
    away = await redis_store("agent-b")
    await add(home, record("bound", at_s=1000.0))
    await add(home, record("shared", at_s=1001.0), shared=True)
    taken = await asyncio.wait_for(away.take(), 3)
    assert taken.task_id == "shared"
    waiting = asyncio.create_task(away.take())
    await asyncio.sleep(0.2)
    assert not waiting.done()  # agent-b never runs agent-a's host-bound task
    waiting.cancel()
    assert (await asyncio.wait_for(home.take(), 3)).task_id == "bound"


async def test_cancel_of_a_task_running_on_another_agent_reaches_it(
    redis_store: Callable[..., Awaitable[RedisTaskStore]],
) -> None:
    runner = await redis_store("agent-a")
    elsewhere = await redis_store("agent-b")
    await add(runner, record("a"))
    await runner.take()
    flagged = await elsewhere.cancel("a")
    assert flagged.status == "running"
    for _ in range(50):
        if ("cancel", "a") in runner.events:  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.02)
    assert ("cancel", "a") in runner.events  # type: ignore[attr-defined]


async def test_finished_records_expire_and_their_entries_are_deleted(
    redis_store: Callable[..., Awaitable[RedisTaskStore]], redis_prefix: str,
) -> None:
    store = await redis_store(retention="30s")
    await add(store, record("a"))
    await drain(store, 1)
    client = aioredis.from_url(REDIS_URL)
    try:
        assert 0 < await client.ttl(f"{redis_prefix}task:a") <= 30
        assert await client.xlen(f"{redis_prefix}tasks:host:agent-a:normal") == 0
    finally:
        await client.aclose()


async def test_redis_down_is_503_and_degraded_not_a_crash() -> None:
    config = load_config(environ={}, overrides={
        "tasks": {"backend": "redis"}, "redis": {"url": "redis://127.0.0.1:1/0"}})
    health = HealthBoard()
    link = link_to(config.redis.url, health=health)
    store = RedisTaskStore(config.tasks, link, health)
    await store.open(on_cancel=lambda _: None, on_lost=lambda _: None)
    try:
        assert link.away                         # the store's first call met the outage
        with pytest.raises(ServiceUnavailable):
            await add(store, record("a"))        # at once: the link knows Redis is away
        assert not health.components()["tasks"].ok and not health.components()["redis"].ok
        taking = asyncio.create_task(store.take())  # waits the outage out, never raises
        await asyncio.sleep(0.3)
        assert not taking.done()
        taking.cancel()
    finally:
        await store.close()
        await link.close()


async def test_work_whose_message_was_missed_is_found_at_the_next_upkeep(
    redis_store: Callable[..., Awaitable[RedisTaskStore]],
) -> None:
    """Idle workers wait for the "queued" message alone; one that never came (said on another
    channel here) is made up for by the upkeep, every lease/3, while the counts show work."""
    worker = await redis_store(lease=1.5)                   # upkeep every 0.5 s
    waiting = asyncio.create_task(worker.take())
    await asyncio.sleep(0)
    deaf = await redis_store(lease=1.5)
    deaf._layout.channel += ":nobody-listens"  # its message goes astray
    await add(deaf, record("missed"))
    taken = await asyncio.wait_for(waiting, 5)
    assert taken.task_id == "missed"
