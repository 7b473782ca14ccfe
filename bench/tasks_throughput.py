"""5,000 `system.noop` tasks over HTTP with 32 connections against a real agent, on the memory
backend and on the Redis one: accepted per second, and completed per second until the last one
has run. Targets: at least 5,000 accepted/s in memory and 2,000/s on Redis on this machine.
Loopback only; the Redis run uses a key prefix of its own and deletes its keys after."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid

import aiohttp
import redis.asyncio as aioredis

from bench.status_throughput import BIN, SECRET, admin_token, free_port, wait_ready

REDIS_URL = os.environ.get("POLYAD_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")


async def launch(port: int, state_dir: str, backend: str, prefix: str,
                 **settings: str) -> asyncio.subprocess.Process:
    """`settings`: more POLYAD_ variables (`POLYAD_TASKS__WORKERS="4"`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYAD_")}
    env |= {"POLYAD_STATE_DIR": state_dir, "POLYAD_LOGGING__LEVEL": "warning",
            "POLYAD_AUTH__SECRET": SECRET,
            "POLYAD_RATE_LIMIT__DEFAULT": "100000000/minute",
            "POLYAD_RATE_LIMIT__TASKS": "100000000/minute",
            "POLYAD_TASKS__BACKEND": backend, "POLYAD_REDIS__URL": REDIS_URL,
            "POLYAD_REDIS__PREFIX": prefix, **settings}
    return await asyncio.create_subprocess_exec(
        str(BIN / "polyad"), "serve", "--port", str(port), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


async def status_of(session: aiohttp.ClientSession, url: str, headers: dict[str, str],
                    task_id: str) -> str:
    async with session.get(f"{url}/task/{task_id}", headers=headers) as response:
        status: str = (await response.json())["status"]
        return status


async def forget(prefix: str) -> None:
    client = aioredis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
    for start in range(0, len(keys), 1000):
        await client.unlink(*keys[start:start + 1000])
    await client.aclose()


async def measure(count: int, connections: int, backend: str) -> dict[str, float]:
    prefix = f"polyad-bench-{uuid.uuid4().hex[:8]}:"
    with tempfile.TemporaryDirectory() as state_dir:
        port = free_port()
        agent = await launch(port, state_dir, backend, prefix)
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {admin_token(state_dir, 'read,tasks')}"}
        body = {"type": "system", "action": "noop"}
        try:
            connector = aiohttp.TCPConnector(limit=connections)
            async with aiohttp.ClientSession(connector=connector) as session:
                await wait_ready(session, url)
                queue = iter(range(count))
                last_id = ""

                async def client() -> None:
                    nonlocal last_id
                    for _ in queue:
                        async with session.post(f"{url}/task", json=body,
                                                headers=headers) as response:
                            if response.status != 202:
                                raise RuntimeError(f"status {response.status}")
                            last_id = (await response.json())["task_id"]

                started = time.perf_counter()
                await asyncio.gather(*(client() for _ in range(connections)))
                accepted_s = time.perf_counter() - started
                # one priority, first in first out: the last accepted is the last to run
                while await status_of(session, url, headers, last_id) != "succeeded":  # noqa: ASYNC110 - polling a remote agent
                    await asyncio.sleep(0.01)
                completed_s = time.perf_counter() - started
        finally:
            agent.terminate()
            await agent.wait()
            if backend == "redis":
                await forget(prefix)
    return {"tasks": count, "accepted_per_s": round(count / accepted_s, 1),
            "completed_per_s": round(count / completed_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--backend", choices=("memory", "redis"), action="append")
    args = parser.parse_args()
    for backend in args.backend or ("memory", "redis"):
        report = asyncio.run(measure(args.tasks, args.connections, backend))
        sys.stdout.write(json.dumps({"backend": backend, **report}) + "\n")


if __name__ == "__main__":
    main()
