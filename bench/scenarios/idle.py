"""Idle overhead: each agent alone, one after the other, with the light client it would have:
polyad sampling every second with a client reading GET /metrics every 2 s, Glances' API with
one client polling /api/4/all every 2 s (what its web UI does), node_exporter scraped every
15 s. Reports CPU seconds over the window (start-up excluded) and peak RSS (VmHWM)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from bench import peers
from bench.plan import Context, Plan
from bench.processes import Agent, http_get
from bench.report import Row, compared

SCENARIO = "idle"
MB = 1e6


def watch(agent: Agent, path: str, headers: Mapping[str, str], every_s: float,
          plan: Plan) -> dict[str, float]:
    time.sleep(plan.idle_settle_s)  # start-up work done before the window opens
    duration_s = plan.idle_s
    cpu_before_s = agent.cpu_s()
    started = time.monotonic()
    polls = 0
    while (now := time.monotonic()) < started + duration_s:
        if now >= started + polls * every_s:
            status, _ = http_get(agent.url + path, headers)
            if status != 200:
                raise RuntimeError(f"{agent.name} {path}: status {status}")
            polls += 1
        next_poll = started + polls * every_s
        time.sleep(max(0.0, min(next_poll, started + duration_s) - time.monotonic()))
    elapsed_s = time.monotonic() - started
    cpu_s = agent.cpu_s() - cpu_before_s
    return {"seconds": round(elapsed_s, 2), "polls": polls, "cpu_s": round(cpu_s, 3),
            "cpu_percent_of_one_core": round(100 * cpu_s / elapsed_s, 3),
            "peak_rss_mb": round(agent.peak_rss_bytes() / MB, 1),
            "rss_mb_at_end": round(agent.rss_bytes() / MB, 1)}


def run(context: Context) -> tuple[list[Row], dict[str, Any]]:
    plan = context.plan
    raw: dict[str, Any] = {"window_s": plan.idle_s}
    with peers.polyad(context.work_dir, "polyad-idle") as agent:
        raw["polyad"] = watch(agent.agent, "/metrics", agent.auth, 2.0, plan)
    with peers.glances(context.work_dir) as glances:
        raw["glances"] = watch(glances, "/api/4/all", {}, 2.0, plan)
    with peers.node_exporter(context.work_dir) as exporter:
        raw["node_exporter"] = watch(exporter, "/metrics", {}, 15.0, plan)
    ours, glances, exporter = raw["polyad"], raw["glances"], raw["node_exporter"]
    cpu, rss = "cpu_percent_of_one_core", "peak_rss_mb"
    rows = [
        compared(SCENARIO, "CPU % of one core", ours[cpu], glances[cpu], "Glances",
                 "≤ 0.5 % and < Glances",
                 lambda ratio: ours[cpu] <= 0.5 and ratio < 1),
        compared(SCENARIO, "CPU % of one core", ours[cpu], exporter[cpu], "node_exporter"),
        compared(SCENARIO, "peak RSS MB", ours[rss], glances[rss], "Glances",
                 "≤ 60 MB and < Glances",
                 lambda ratio: ours[rss] <= 60 and ratio < 1),
        compared(SCENARIO, "peak RSS MB", ours[rss], exporter[rss], "node_exporter"),
    ]
    return rows, raw
