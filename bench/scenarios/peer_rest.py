"""Peer REST: polyad's JSON API against Glances' REST API (API only, no web UI), the same wrk
connections and duration, alternating rounds: GET /status against /api/4/quicklook, and
GET /metrics against /api/4/all."""

from __future__ import annotations

from typing import Any

from bench import peers
from bench.load import medians, round_of
from bench.plan import Context
from bench.report import Row, compared
from bench.rounds import alternate

SCENARIO = "peer REST"
PAIRS = (("/status", "/api/4/quicklook"), ("/metrics", "/api/4/all"))


def run(context: Context) -> tuple[list[Row], dict[str, Any]]:
    plan = context.plan
    raw: dict[str, Any] = {"connections": plan.connections, "round_s": plan.round_s}
    rows: list[Row] = []
    with peers.polyad(context.work_dir) as agent, peers.glances(context.work_dir) as glances:
        for ours_path, theirs_path in PAIRS:
            rounds = alternate(plan.rounds, {
                "polyad": round_of(agent.agent, ours_path, plan, agent.auth),
                "glances": round_of(glances, theirs_path, plan)})
            ours = medians(rounds["polyad"], "polyad")
            theirs = medians(rounds["glances"], "Glances", errors_allowed=True)
            raw[f"{ours_path} vs {theirs_path}"] = {"polyad": ours, "glances": theirs}
            name = f"Glances {theirs_path.removeprefix('/api/4')}"
            rows += [
                compared(SCENARIO, f"GET {ours_path} req/s", ours["rps"], theirs["rps"], name,
                         "≥ 5x", lambda ratio: ratio >= 5),
                compared(SCENARIO, f"GET {ours_path} p99 ms", ours["p99_ms"], theirs["p99_ms"],
                         name, "< 1x (lower)", lambda ratio: ratio < 1),
            ]
    return rows, raw
