"""Cost curves: how the cost of one operation grows with the load the agent carries. Each curve
runs the agent's own code in the bench's process (no HTTP: the request's own cost is the
ceiling scenario's), at growing sizes, and reports the cost per operation at each size and
its growth from the smallest size to the largest. Goal: flat or logarithmic, so a growth of
at most 2x over a 100x or 1,000x larger load; a cliff is a defect.

- alert rules: one evaluation tick of 10 to 10,000 rules over a full snapshot, per rule;
- the task queue: a submission (`TaskStore.add`) with 0 to 100,000 tasks queued, and the first
  page of GET /tasks (`newest(limit=100)`) with as many records, in memory and in Redis (a key
  prefix of its own, deleted after);
- the memory cache: a get and a set with 1,000 to 1,000,000 entries, and resident bytes per
  entry.
"""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psutil

from bench.plan import Context
from bench.report import Row, absolute
from polyad.alerts.engine import AlertEngine
from polyad.alerts.model import Rule, RuleGroup
from polyad.cache.memory import MemoryCache
from polyad.config import load_config
from polyad.health import HealthBoard
from polyad.tasks.backend import TaskStore
from polyad.tasks.model import PRIORITIES, TaskRecord
from polyad.tasks.store import MemoryTaskStore
from tests.fakes.samples import full_snapshot

SCENARIO = "curves"
REDIS_URL = "redis://127.0.0.1:6379/15"
_GROWTH_GOAL = 2.0
# catalog paths with one reading and with one per device: a rule set as operators write them
_RULE_METRICS = ("cpu.usage", "memory.usage", "cpu.cores[].usage", "gpu.devices[].temperature",
                 "network.interfaces[].download_bps", "filesystem.mounts[].usage")


def _growth_row(curve: str, costs: dict[int, float], unit: str) -> list[Row]:
    rows = [absolute(SCENARIO, f"{curve}: {unit} at {size:,}", round(cost, 3))
            for size, cost in costs.items()]
    smallest, largest = min(costs), max(costs)
    growth = costs[largest] / costs[smallest] if costs[smallest] else float("inf")
    rows.append(absolute(SCENARIO, f"{curve}: growth {smallest:,} → {largest:,}",
                         round(growth, 2), f"≤ {_GROWTH_GOAL:g}x",
                         lambda figure: figure <= _GROWTH_GOAL))
    return rows


def _best_of(runs: int, measure: Callable[[], float]) -> float:
    """The least of several timings: the run the shared machine disturbed least."""
    return min(measure() for _ in range(runs))


# -- alert rules ---------------------------------------------------------------------------
def _rules(count: int) -> RuleGroup:
    rules = tuple(Rule(group="bench", alert=f"Rule{number}",
                       metric=_RULE_METRICS[number % len(_RULE_METRICS)], op=">",
                       threshold=float(number % 100), for_s=60.0, keep_firing_for_s=0.0,
                       labels={"severity": "warning"}, annotations={}, interval_s=None,
                       source=f"bench.yml:{number}") for number in range(count))
    return RuleGroup(name="bench", interval_s=None, rules=rules, source="bench.yml")


def alert_curve(sizes: tuple[int, ...]) -> tuple[dict[int, float], dict[str, Any]]:
    snapshot = full_snapshot()
    costs: dict[int, float] = {}
    for size in sizes:
        group = _rules(size)
        engine = AlertEngine([group], instance="bench", default_interval_s=1.0,
                             snapshot=lambda: snapshot, listener=lambda _state, _alert: None)
        engine.evaluate(group, snapshot)   # the alerts exist: later ticks are the steady ones

        def tick(engine: AlertEngine = engine, group: RuleGroup = group) -> float:
            started = time.perf_counter()
            engine.evaluate(group, snapshot)
            return time.perf_counter() - started

        costs[size] = _best_of(5, tick) / size * 1e6
    return costs, {"µs_per_rule": costs}


# -- the task queue --------------------------------------------------------------------------
def _record(number: int) -> TaskRecord:
    return TaskRecord(task_id=uuid.uuid4().hex, type="system", action="noop",
                      priority=PRIORITIES[number % 3], data={}, enqueued_at_s=time.time(),
                      expected_s=0.01)


async def _fill(store: TaskStore, count: int, batch: int) -> None:
    for start in range(0, count, batch):
        await asyncio.gather(*(store.add(_record(number), pool="own", busy_s=[0.0],
                                         max_queued=10_000_000)
                               for number in range(start, min(count, start + batch))))


async def _queue_curve(store: TaskStore, sizes: tuple[int, ...], probes: int,
                       batch: int) -> tuple[dict[int, float], dict[int, float]]:
    adds: dict[int, float] = {}
    pages: dict[int, float] = {}
    queued = 0
    for size in sizes:
        await _fill(store, size - queued, batch)
        started = time.perf_counter()
        for number in range(probes):
            await store.add(_record(number), pool="own", busy_s=[0.0], max_queued=10_000_000)
        adds[size] = (time.perf_counter() - started) / probes * 1e6
        queued = size + probes
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            page = await store.newest(status=None, task_type=None, limit=100)
            timings.append(time.perf_counter() - started)
            assert len(page.records) == min(100, queued)
        pages[max(size, probes)] = min(timings) * 1e3
    return adds, pages


async def memory_queue(sizes: tuple[int, ...]) -> tuple[dict[int, float], dict[int, float]]:
    store = MemoryTaskStore({"high": 0.0, "normal": 30.0, "low": 60.0}, retention_s=3600,
                            max_records=10_000_000)
    return await _queue_curve(store, sizes, probes=2000, batch=1000)


async def redis_queue(sizes: tuple[int, ...]) -> tuple[dict[int, float], dict[int, float]]:
    from polyad.redis_link import RedisLink
    from polyad.tasks.redis_store import RedisTaskStore

    prefix = f"polyad-bench-{uuid.uuid4().hex[:8]}:"
    config = load_config(environ={}, overrides={
        "tasks": {"backend": "redis", "agent_id": "bench", "max_records": 1_000_000},
        "redis": {"url": REDIS_URL, "prefix": prefix, "max_connections": 64}})
    link = RedisLink(config.redis, HealthBoard(), timeout_s=5.0)
    store = RedisTaskStore(config.tasks, link, HealthBoard())
    await store.open(on_cancel=lambda _: None, on_lost=lambda _: None)
    try:
        return await _queue_curve(store, sizes, probes=500, batch=50)
    finally:
        await store.close()
        keys = [key async for key in link.client.scan_iter(match=f"{prefix}*", count=10_000)]
        for start in range(0, len(keys), 10_000):
            await link.client.unlink(*keys[start:start + 10_000])
        await link.close()


# -- the memory cache ------------------------------------------------------------------------
async def cache_curve(sizes: tuple[int, ...]) -> tuple[dict[int, float], dict[int, float],
                                                       dict[int, float]]:
    gets: dict[int, float] = {}
    sets: dict[int, float] = {}
    bytes_per_entry: dict[int, float] = {}
    value = {"cpu": 12.5, "memory": 48.1}
    for size in sizes:
        probes = [f"key-{number * 7919 % size}" for number in range(20_000)]
        gc.collect()
        before = psutil.Process().memory_info().rss
        cache = MemoryCache(max_size_bytes=4 * 1024**3, default_ttl_s=3600)
        for number in range(size):   # one by one: no mapping of them all besides the cache
            await cache.set(f"key-{number}", value)
        bytes_per_entry[size] = (psutil.Process().memory_info().rss - before) / size

        async def put(key: str, cache: MemoryCache = cache) -> None:
            await cache.set(key, value)

        gets[size] = min([await _per_call(cache.get, probes) for _ in range(3)])
        sets[size] = min([await _per_call(put, probes) for _ in range(3)])
        del cache, put
    return gets, sets, bytes_per_entry


async def _per_call(call: Callable[[str], Awaitable[Any]], keys: list[str]) -> float:
    """µs per call, over the keys."""
    started = time.perf_counter()
    for key in keys:
        await call(key)
    return (time.perf_counter() - started) / len(keys) * 1e6


def run(context: Context) -> tuple[list[Row], dict[str, Any]]:
    quick = context.plan.quick
    rule_sizes = (10, 100, 1000) if quick else (10, 100, 1000, 10_000)
    queue_sizes = (0, 10_000) if quick else (0, 10_000, 100_000)
    redis_sizes = (0, 2_000) if quick else (0, 10_000, 100_000)
    cache_sizes = (1000, 100_000) if quick else (1000, 100_000, 1_000_000)
    raw: dict[str, Any] = {}
    rows: list[Row] = []
    rule_costs, raw["alert_rules"] = alert_curve(rule_sizes)
    rows += _growth_row("alert rules", rule_costs, "µs per rule and tick")
    for backend, measure, sizes in (("memory", memory_queue, queue_sizes),
                                    ("redis", redis_queue, redis_sizes)):
        adds, pages = asyncio.run(measure(sizes))
        raw[f"{backend}_queue"] = {"µs_per_submission": adds, "ms_per_first_page": pages}
        rows += _growth_row(f"{backend} queue", adds, "µs per submission, queued")
        rows += _growth_row(f"{backend} GET /tasks limit 100", pages, "ms, records")
    gets, sets, per_entry = asyncio.run(cache_curve(cache_sizes))
    raw["memory_cache"] = {"µs_per_get": gets, "µs_per_set": sets, "bytes_per_entry": per_entry}
    rows += _growth_row("cache get", gets, "µs, entries")
    rows += _growth_row("cache set", sets, "µs, entries")
    # RSS moves in pages and reuses what was freed: only the larger sizes say much
    rows += [absolute(SCENARIO, f"cache: resident bytes per entry at {size:,}", round(value))
             for size, value in per_entry.items() if size >= 100_000]
    return rows, raw
