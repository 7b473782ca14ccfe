"""How right `estimated_seconds` is: a mixed workload against a real agent (memory and Redis
backends, 1 and 4 workers), and for each task |estimated - actual| / actual of the time from its
submission to its end, as the 202 told it and as the record's `finished_at` says.

The workload: tasks arriving at random (exponential gaps, seeded) to keep the workers about 80 %
busy, of three handlers (system.noop with 0.05 to 0.4 s, system.monitor over 0.1 to 0.5 s, and
system.snapshot, a few ms) at three priorities (high 25 %, normal 60 %, low 15 %). The first
`--warmup` tasks teach the agent its handlers and are not counted. Goal: median ≤ 25 %,
p90 ≤ 60 %. One JSON line per backend and worker count."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from typing import Any

import aiohttp

from bench.status_throughput import admin_token, free_port, wait_ready
from bench.tasks_throughput import forget, launch

_BUSY = 0.8            # of the workers' time the arrivals ask for
_PRIORITIES = (("high", 0.25), ("normal", 0.60), ("low", 0.15))


def workload(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` task bodies, each with the seconds it declares (`_declared`)."""
    draw = random.Random(seed)  # noqa: S311 - a reproducible workload, not a secret
    tasks = []
    for _ in range(count):
        priority = draw.choices([p for p, _ in _PRIORITIES], [w for _, w in _PRIORITIES])[0]
        kind = draw.random()
        if kind < 0.5:
            seconds = round(draw.uniform(0.05, 0.4), 3)
            body = {"type": "system", "action": "noop", "data": {"seconds": seconds}}
        elif kind < 0.85:
            seconds = round(draw.uniform(0.1, 0.5), 3)
            body = {"type": "system", "action": "monitor",
                    "data": {"components": ["memory"], "duration": seconds, "interval": 0.1}}
        else:
            seconds = 0.005
            body = {"type": "system", "action": "snapshot"}
        tasks.append({**body, "priority": priority, "_declared": seconds})
    return tasks


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def finished(session: aiohttp.ClientSession, url: str, headers: dict[str, str],
                   task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        async with session.get(f"{url}/task/{task_id}", headers=headers) as response:
            record: dict[str, Any] = await response.json()
        if record["finished_at"] is not None:
            return record
        await asyncio.sleep(0.05)  # polling a remote agent
    raise RuntimeError(f"task {task_id} did not finish in 120 s")


async def measure(backend: str, workers: int, count: int, warmup: int,
                  seed: int) -> dict[str, Any]:
    prefix = f"polyad-bench-{uuid.uuid4().hex[:8]}:"
    tasks = workload(warmup + count, seed)
    mean_s = statistics.mean(task["_declared"] for task in tasks)
    gap_s = mean_s / workers / _BUSY
    draw = random.Random(seed + 1)  # noqa: S311 - the arrivals, likewise
    with tempfile.TemporaryDirectory() as state_dir:
        port = free_port()
        agent = await launch(port, state_dir, backend, prefix,
                             POLYAD_TASKS__WORKERS=str(workers))
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {admin_token(state_dir, 'read,tasks')}"}
        submitted: list[tuple[float, float, str]] = []   # (sent at, estimate, task id)
        try:
            async with aiohttp.ClientSession() as session:
                await wait_ready(session, url)
                for task in tasks:
                    body = {key: value for key, value in task.items() if key != "_declared"}
                    sent_s = time.time()
                    async with session.post(f"{url}/task", json=body,
                                            headers=headers) as response:
                        if response.status != 202:
                            raise RuntimeError(f"status {response.status}")
                        accepted = await response.json()
                    submitted.append((sent_s, accepted["estimated_seconds"],
                                      accepted["task_id"]))
                    await asyncio.sleep(draw.expovariate(1 / gap_s))
                records = [await finished(session, url, headers, task_id)
                           for _, _, task_id in submitted]
        finally:
            agent.terminate()
            await agent.wait()
            if backend == "redis":
                await forget(prefix)
    errors = []
    for (sent_s, estimate_s, _), record in list(zip(submitted, records, strict=True))[warmup:]:
        actual_s = datetime.fromisoformat(record["finished_at"]).timestamp() - sent_s
        errors.append(abs(estimate_s - actual_s) / max(actual_s, 0.001))

    return {"backend": backend, "workers": workers, "tasks": count, "warmup": warmup,
            "median_error": round(statistics.median(errors), 4),
            "p90_error": round(percentile(errors, 0.9), 4),
            "mean_error": round(statistics.mean(errors), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=120, help="counted, per configuration")
    parser.add_argument("--warmup", type=int, default=12)
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--backend", choices=("memory", "redis"), action="append")
    parser.add_argument("--workers", type=int, action="append")
    args = parser.parse_args()
    for backend in args.backend or ("memory", "redis"):
        for workers in args.workers or (1, 4):
            report = asyncio.run(measure(backend, workers, args.tasks, args.warmup, args.seed))
            sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
