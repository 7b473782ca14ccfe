"""GET /status against the number of connections: 1, 16, 256 and 1,024 wrk connections on one
agent at its defaults (auth and rate limits on), each for a round: requests per second, the
agent's requests per CPU-second, p99 and errors. Then 16 connections with 16 console streams
(GET /events) open at once, against 16 connections alone. Goal: flat requests per CPU-second
(at most 2x apart from 16 to 1,024), no errors, and streams that cost the requests little."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

from bench import peers
from bench.plan import Context
from bench.processes import Agent
from bench.report import Row, absolute, compared
from bench.wrk import run_wrk

SCENARIO = "connections"
_COUNTS = (1, 16, 256, 1024)
_STREAMS = 16


def _round(agent: Agent, connections: int, seconds: int,
           headers: dict[str, str]) -> dict[str, float]:
    cpu_before_s = agent.cpu_s()
    run = run_wrk(agent.url + "/status", connections=connections, duration_s=seconds,
                  headers=headers, timeout_s=30.0)
    cpu_s = agent.cpu_s() - cpu_before_s
    return {"rps": run.rps, "p99_ms": run.p_ms("p99"), "errors": run.error_count,
            "requests_per_cpu_s": run.requests / cpu_s if cpu_s else 0.0}


@contextlib.contextmanager
def _streams(agent: Agent, headers: dict[str, str], count: int) -> Iterator[None]:
    """`count` GET /events streams held open (read by nobody: the agent's queues bound them)."""
    host, port = agent.url.removeprefix("http://").split(":")
    opened = []
    try:
        for _ in range(count):
            connection = socket.create_connection((host, int(port)), timeout=10)
            request = (f"GET /events HTTP/1.1\r\nHost: {host}\r\n"
                       + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
                       + "\r\n")
            connection.sendall(request.encode())
            if not connection.recv(64).startswith(b"HTTP/1.1 200"):
                raise RuntimeError("an /events stream was refused")
            opened.append(connection)
        yield
    finally:
        for connection in opened:
            connection.close()


def run(context: Context) -> tuple[list[Row], dict[str, Any]]:
    plan = context.plan
    seconds = max(2, plan.round_s)
    raw: dict[str, Any] = {"round_s": seconds}
    with peers.polyad(context.work_dir, "polyad-connections") as polyad:
        agent, headers = polyad.agent, polyad.auth
        run_wrk(agent.url + "/status", connections=16, duration_s=plan.warmup_s,
                headers=headers)
        for count in _COUNTS:
            raw[str(count)] = _round(agent, count, seconds, headers)
        with _streams(agent, headers, _STREAMS):
            raw["16_with_streams"] = _round(agent, 16, seconds, headers)
        raw["peak_rss_mb"] = agent.peak_rss_bytes() / 1e6
    rows = [absolute(SCENARIO, f"{count:,} connections: req/s", round(raw[str(count)]["rps"]))
            for count in _COUNTS]
    rows += [absolute(SCENARIO, f"{count:,} connections: req per CPU-s",
                      round(raw[str(count)]["requests_per_cpu_s"])) for count in _COUNTS]
    rows += [absolute(SCENARIO, f"{count:,} connections: p99 ms",
                      round(raw[str(count)]["p99_ms"], 2)) for count in _COUNTS]
    errors = sum(int(raw[str(count)]["errors"]) for count in _COUNTS)
    per_cpu = [raw[str(count)]["requests_per_cpu_s"] for count in _COUNTS[1:]]
    rows += [
        absolute(SCENARIO, "errors, every count", errors, "0", lambda figure: figure == 0),
        absolute(SCENARIO, "req per CPU-s, 16 to 1,024: spread", round(
            max(per_cpu) / min(per_cpu), 2) if min(per_cpu) else float("inf"), "≤ 2x",
            lambda figure: figure <= 2.0),
        compared(SCENARIO, f"16 connections with {_STREAMS} console streams: req per CPU-s",
                 raw["16_with_streams"]["requests_per_cpu_s"],
                 raw["16"]["requests_per_cpu_s"], "16 connections alone"),
        absolute(SCENARIO, "peak RSS MB", round(raw["peak_rss_mb"], 1)),
    ]
    return rows, raw
