"""Soak: one agent under steady wrk load for the whole plan (10 minutes; QUICK 30 s), a mix of
GET /status, GET /metrics, GET /metrics/prom and POST /task (no-op) in turn. The load runs in
segments; RSS is read after each. Growth is end against the first segment's end (allocator
pools and the task table fill during it), and also reported against the RSS before load."""

from __future__ import annotations

from typing import Any

from bench import peers
from bench.plan import Context
from bench.report import Row, absolute, compared
from bench.wrk import run_wrk

SCENARIO = "soak"
MIX = ("GET /status", "GET /metrics", "GET /metrics/prom",
       'POST /task {"type":"system","action":"noop"}')
CONNECTIONS = 8
MB = 1e6


def run(context: Context) -> tuple[list[Row], dict[str, Any]]:
    plan = context.plan
    segments: list[dict[str, Any]] = []
    with peers.polyad(context.work_dir, "polyad-soak", scopes="read,tasks") as agent:
        rss_before_mb = agent.agent.rss_bytes() / MB
        for _ in range(plan.soak_segments):
            cpu_before_s = agent.agent.cpu_s()
            load = run_wrk(agent.agent.url, connections=CONNECTIONS,
                           duration_s=plan.soak_segment_s, headers=agent.auth, requests=MIX)
            segments.append({"requests": load.requests, "rps": round(load.rps, 1),
                             "errors": load.errors, "p99_ms": load.p_ms("p99"),
                             "cpu_s": round(agent.agent.cpu_s() - cpu_before_s, 2),
                             "rss_mb": round(agent.agent.rss_bytes() / MB, 1)})
        alive = agent.agent.process.poll() is None
    start_mb, end_mb = segments[0]["rss_mb"], segments[-1]["rss_mb"]
    errors = sum(sum(segment["errors"].values()) for segment in segments)
    requests = sum(segment["requests"] for segment in segments)
    raw = {"seconds": plan.soak_s, "connections": CONNECTIONS, "mix": MIX,
           "rss_mb_before_load": round(rss_before_mb, 1), "rss_mb_start": start_mb,
           "rss_mb_end": end_mb, "growth_percent": round(100 * (end_mb / start_mb - 1), 2),
           "growth_percent_from_before_load": round(100 * (end_mb / rss_before_mb - 1), 2),
           "requests": requests, "errors": errors, "alive_at_end": alive,
           "segments": segments}
    rows = [
        compared(SCENARIO, f"RSS MB after {plan.soak_s:g} s", end_mb, start_mb,
                 "RSS after the first segment", "< 1.10x", lambda ratio: ratio < 1.10),
        absolute(SCENARIO, "errors", errors, "0",
                 lambda count: count == 0 and alive),
        absolute(SCENARIO, "req/s (mix)", requests / plan.soak_s),
    ]
    return rows, raw
