"""GET /status throughput with authentication and rate limiting on, against both off.

Two agents run side by side, each in its own process; a load generator in this process drives
them in alternating rounds, so both see the same machine noise. Reports, per mode, requests per
second and the agent's own CPU time per request (user + system, read from the OS: far steadier
than wall-clock throughput on a shared 2-core machine, where the load generator competes for
the same cores). The headline is the CPU-bound throughput ratio on/off, i.e. CPU per request
off/on (target: auth + limits cost under 15%). Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

# The agent as an operator installs it (`make bench` makes this venv); else this venv's.
BENCH_VENV_BIN = Path(__file__).resolve().parent / ".venv-polyad" / "bin"
BIN = BENCH_VENV_BIN if (BENCH_VENV_BIN / "polyad").exists() else Path(sys.executable).parent
SECRET = "bench-only-secret-0123456789abcdef0123456789"  # noqa: S105 - a bench fixture


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_agent(port: int, state_dir: str, *, secure: bool) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYAD_")}
    env |= {"POLYAD_STATE_DIR": state_dir, "POLYAD_LOGGING__LEVEL": "warning",
            "POLYAD_AUTH__SECRET": SECRET}
    if secure:  # limits high enough never to refuse: the bench measures their cost
        env["POLYAD_RATE_LIMIT__DEFAULT"] = "100000000/minute"
    else:
        env |= {"POLYAD_AUTH__ENABLED": "false", "POLYAD_RATE_LIMIT__ENABLED": "false"}
    return subprocess.Popen([str(BIN / "polyad"), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def admin_token(state_dir: str, scope: str = "read") -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYAD_")}
    env |= {"POLYAD_STATE_DIR": state_dir, "POLYAD_AUTH__SECRET": SECRET}
    return subprocess.run([str(BIN / "polyad"), "token", "--scope", scope, "--ttl", "1h",
                           "--sub", "bench"], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


async def wait_ready(session: aiohttp.ClientSession, url: str) -> None:
    for _ in range(200):
        try:
            async with session.get(f"{url}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not become ready")


def cpu_s(agent: subprocess.Popen[bytes]) -> float:
    times = psutil.Process(agent.pid).cpu_times()
    return float(times.user + times.system)


async def round_rps(session: aiohttp.ClientSession, url: str, headers: dict[str, str],
                    seconds: float, concurrency: int) -> tuple[float, int]:
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            async with session.get(f"{url}/status", headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{url}: status {response.status}")
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started), done


async def measure(rounds: int, seconds: float, concurrency: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as state_dir:
        ports = {"off": free_port(), "on": free_port()}
        agents = {"off": start_agent(ports["off"], state_dir, secure=False),
                  "on": start_agent(ports["on"], state_dir, secure=True)}
        token = admin_token(state_dir)
        headers = {"off": {}, "on": {"Authorization": f"Bearer {token}"}}
        rps: dict[str, list[float]] = {"off": [], "on": []}
        cpu_us: dict[str, list[float]] = {"off": [], "on": []}
        try:
            connector = aiohttp.TCPConnector(limit=concurrency * 2)
            async with aiohttp.ClientSession(connector=connector) as session:
                for mode in ("off", "on"):
                    await wait_ready(session, f"http://127.0.0.1:{ports[mode]}")
                    await round_rps(session, f"http://127.0.0.1:{ports[mode]}", headers[mode],
                                    1.0, concurrency)  # warm-up
                for index in range(rounds):
                    order = ("off", "on") if index % 2 == 0 else ("on", "off")
                    for mode in order:
                        url = f"http://127.0.0.1:{ports[mode]}"
                        cpu_before = cpu_s(agents[mode])
                        rate, requests = await round_rps(session, url, headers[mode], seconds,
                                                         concurrency)
                        rps[mode].append(rate)
                        cpu_us[mode].append((cpu_s(agents[mode]) - cpu_before) / requests * 1e6)
        finally:
            for agent in agents.values():
                agent.terminate()
                agent.wait(10)
    off_cpu, on_cpu = statistics.median(cpu_us["off"]), statistics.median(cpu_us["on"])
    off_rps, on_rps = statistics.median(rps["off"]), statistics.median(rps["on"])
    return {"cpu_us_per_request_off": round(off_cpu, 1),
            "cpu_us_per_request_on": round(on_cpu, 1),
            "cpu_bound_throughput_ratio_on_over_off": round(off_cpu / on_cpu, 3),
            "cost_percent": round(100 * (1 - off_cpu / on_cpu), 1),
            "wall_rps_off": round(off_rps, 1), "wall_rps_on": round(on_rps, 1),
            "wall_rps_ratio_on_over_off": round(on_rps / off_rps, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    report = asyncio.run(measure(args.rounds, args.seconds, args.concurrency))
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
