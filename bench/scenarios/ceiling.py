"""Ceiling: GET /status on polyad (auth and rate limits on) against a bare aiohttp app that
returns the same bytes on the same loop settings, loaded by wrk in alternating rounds."""

from __future__ import annotations

from typing import Any

from bench import peers
from bench.load import medians, round_of
from bench.plan import Context
from bench.processes import http_get
from bench.report import Row, compared
from bench.rounds import alternate

SCENARIO = "ceiling"


def run(context: Context) -> tuple[list[Row], dict[str, Any]]:
    plan = context.plan
    with peers.polyad(context.work_dir) as agent:
        status, body = http_get(agent.agent.url + "/status", agent.auth)
        if status != 200:
            raise RuntimeError(f"polyad GET /status answered {status}")
        with peers.bare_aiohttp(context.work_dir, body) as bare:
            rounds = alternate(plan.rounds, {
                "polyad": round_of(agent.agent, "/status", plan, agent.auth),
                "bare": round_of(bare, "/status", plan)})
            peak_rss_mb = {"polyad": agent.agent.peak_rss_bytes() / 1e6,
                           "bare_aiohttp": bare.peak_rss_bytes() / 1e6}
    ours, ceiling = medians(rounds["polyad"], "polyad"), medians(rounds["bare"], "bare aiohttp")
    raw = {"body_bytes": len(body), "connections": plan.connections, "polyad": ours,
           "bare_aiohttp": ceiling, "peak_rss_mb": peak_rss_mb}
    rows = [
        compared(SCENARIO, "GET /status req/s", ours["rps"], ceiling["rps"], "bare aiohttp",
                 "≥ 0.8x", lambda ratio: ratio >= 0.8),
        compared(SCENARIO, "GET /status req per CPU-s", ours["requests_per_cpu_s"],
                 ceiling["requests_per_cpu_s"], "bare aiohttp"),
        compared(SCENARIO, "GET /status p99 ms", ours["p99_ms"], ceiling["p99_ms"],
                 "bare aiohttp"),
    ]
    return rows, raw
