"""5,000 `system.noop` tasks over HTTP with 32 connections against a real agent (memory
backend): accepted per second, and completed per second until the last one has run.
Targets: at least 5,000 accepted/s on this machine. Loopback only."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time

import aiohttp

from bench.status_throughput import BIN, SECRET, admin_token, free_port, wait_ready


async def launch(port: int, state_dir: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYAD_")}
    env |= {"POLYAD_STATE_DIR": state_dir, "POLYAD_LOGGING__LEVEL": "warning",
            "POLYAD_AUTH__SECRET": SECRET,
            "POLYAD_RATE_LIMIT__DEFAULT": "100000000/minute",
            "POLYAD_RATE_LIMIT__TASKS": "100000000/minute"}
    return await asyncio.create_subprocess_exec(
        str(BIN / "polyad"), "serve", "--port", str(port), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


async def status_of(session: aiohttp.ClientSession, url: str, headers: dict[str, str],
                    task_id: str) -> str:
    async with session.get(f"{url}/task/{task_id}", headers=headers) as response:
        status: str = (await response.json())["status"]
        return status


async def measure(count: int, connections: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as state_dir:
        port = free_port()
        agent = await launch(port, state_dir)
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
    return {"tasks": count, "accepted_per_s": round(count / accepted_s, 1),
            "completed_per_s": round(count / completed_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    report = asyncio.run(measure(args.tasks, args.connections))
    sys.stdout.write(json.dumps({"backend": "memory", **report}) + "\n")


if __name__ == "__main__":
    main()
