"""Cache get/set throughput with 1 KB values, through the cache interface and against a baseline
of the same run: a plain dict for the memory backend, plain redis-py calls for Redis (whose cache
is the one the agent builds: Redis with a memory fallback behind it).

Rounds of ours and the baseline alternate, so both see the same machine noise; each figure is
the median of its rounds. Targets: memory at least 500k gets/s, Redis at least 10k ops/s one
call at a time and 50k ops/s batched (get_many/set_many, one round trip per batch). Redis is
the server at --redis-url (database 15 by default), under a prefix of the bench's own, removed
afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import redis.asyncio as aioredis

from polyad.cache import Cache, MemoryCache, build_cache
from polyad.config import load_config
from polyad.health import HealthBoard
from polyad.redis_link import RedisLink

VALUE = {"host": "bench", "text": "x" * 998}  # 1,024 bytes as JSON
TTL_S = 300.0
Run = Callable[[], Awaitable[int]]   # one round: does the work, says how many operations


async def compare(ours: Run, baseline: Run, rounds: int) -> dict[str, float]:
    rates: dict[str, list[float]] = {"ours": [], "baseline": []}
    for index in range(rounds):
        order = (("ours", ours), ("baseline", baseline))
        for name, run in order if index % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            operations = await run()
            rates[name].append(operations / (time.perf_counter() - started))
    ours_rate = statistics.median(rates["ours"])
    baseline_rate = statistics.median(rates["baseline"])
    return {"ops_per_s": round(ours_rate), "baseline_ops_per_s": round(baseline_rate),
            "ratio": round(ours_rate / baseline_rate, 3)}


async def memory_figures(keys: list[str], passes: int, rounds: int) -> dict[str, Any]:
    cache = MemoryCache(256 * 1024**2, TTL_S)
    table: dict[str, Any] = {}
    await cache.set_many(dict.fromkeys(keys, VALUE))
    table.update(dict.fromkeys(keys, VALUE))

    async def cache_gets() -> int:
        for _ in range(passes):
            for key in keys:
                await cache.get(key)
        return passes * len(keys)

    async def dict_gets() -> int:
        for _ in range(passes):
            for key in keys:
                table.get(key)
        return passes * len(keys)

    async def cache_sets() -> int:
        for _ in range(passes):
            for key in keys:
                await cache.set(key, VALUE)
        return passes * len(keys)

    async def dict_sets() -> int:
        for _ in range(passes):
            for key in keys:
                table[key] = VALUE
        return passes * len(keys)

    return {"get": await compare(cache_gets, dict_gets, rounds),
            "set": await compare(cache_sets, dict_sets, rounds)}


async def redis_sequential(cache: Cache, raw: aioredis.Redis, namespace: str,
                           keys: list[str], rounds: int) -> dict[str, Any]:
    payload = orjson.dumps(VALUE)
    ttl_ms = int(TTL_S * 1000)

    async def cache_gets() -> int:
        for key in keys:
            await cache.get(key)
        return len(keys)

    async def raw_gets() -> int:
        for key in keys:
            await raw.get(namespace + key)
        return len(keys)

    async def cache_sets() -> int:
        for key in keys:
            await cache.set(key, VALUE)
        return len(keys)

    async def raw_sets() -> int:
        for key in keys:
            await raw.set(namespace + key, payload, px=ttl_ms)
        return len(keys)

    return {"get": await compare(cache_gets, raw_gets, rounds),
            "set": await compare(cache_sets, raw_sets, rounds)}


async def redis_batched(cache: Cache, raw: aioredis.Redis, namespace: str,
                        batches: list[list[str]], rounds: int) -> dict[str, Any]:
    payload = orjson.dumps(VALUE)
    ttl_ms = int(TTL_S * 1000)
    operations = sum(len(batch) for batch in batches)

    async def cache_gets() -> int:
        for batch in batches:
            await cache.get_many(batch)
        return operations

    async def raw_gets() -> int:
        for batch in batches:
            await raw.mget([namespace + key for key in batch])
        return operations

    async def cache_sets() -> int:
        for batch in batches:
            await cache.set_many(dict.fromkeys(batch, VALUE))
        return operations

    async def raw_sets() -> int:
        for batch in batches:
            async with raw.pipeline(transaction=False) as pipe:
                for key in batch:
                    pipe.set(namespace + key, payload, px=ttl_ms)
                await pipe.execute()
        return operations

    return {"get": await compare(cache_gets, raw_gets, rounds),
            "set": await compare(cache_sets, raw_sets, rounds)}


async def redis_figures(url: str, keys: list[str], batch_size: int,
                        rounds: int) -> dict[str, Any]:
    prefix = f"polyad-bench-{uuid.uuid4().hex[:8]}:"
    namespace = f"{prefix}cache:"
    config = load_config(environ={}, overrides={"cache": {"backend": "redis", "ttl": TTL_S},
                                                "redis": {"url": url, "prefix": prefix}})
    health = HealthBoard()
    link = RedisLink(config.redis, health)      # as the agent has it: one client, one outage
    cache = build_cache(config, health, link)  # state, memory behind Redis
    raw = aioredis.Redis.from_url(url)
    batches = [keys[start:start + batch_size] for start in range(0, len(keys), batch_size)]
    try:
        await cache.set_many(dict.fromkeys(keys, VALUE))
        sequential = await redis_sequential(cache, raw, namespace, keys[:2000], rounds)
        batched = await redis_batched(cache, raw, namespace, batches, rounds)
    finally:
        await cache.clear()
        await cache.close()
        await link.close()
        await raw.aclose()
    return {"sequential": sequential, f"batched_{batch_size}": batched}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    keys = [f"key-{index}" for index in range(args.keys)]
    report: dict[str, Any] = {"value_bytes": len(orjson.dumps(VALUE)),
                              "memory": await memory_figures(keys, args.passes, args.rounds)}
    if args.redis_url:
        report["redis"] = await redis_figures(args.redis_url, keys, args.batch, args.rounds)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--passes", type=int, default=10, help="memory: passes over the keys")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15",
                        help="empty: memory only")
    report = asyncio.run(measure(parser.parse_args()))
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
