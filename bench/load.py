"""One round of wrk load on an agent, with the agent's own CPU time over the round."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bench.plan import Plan
from bench.processes import Agent
from bench.rounds import median
from bench.wrk import run_wrk

Figures = dict[str, float]


def wrk_round(agent: Agent, path: str, plan: Plan, headers: Mapping[str, str] | None = None,
              duration_s: int | None = None) -> Figures:
    cpu_before_s = agent.cpu_s()
    run = run_wrk(agent.url + path, connections=plan.connections,
                  duration_s=duration_s or plan.round_s, headers=headers)
    cpu_s = agent.cpu_s() - cpu_before_s
    return {"rps": run.rps, "p50_ms": run.p_ms("p50"), "p99_ms": run.p_ms("p99"),
            "requests": run.requests, "errors": run.error_count, "cpu_s": cpu_s,
            "requests_per_cpu_s": run.requests / cpu_s if cpu_s else 0.0,
            "bytes_per_response": run.bytes / run.requests if run.requests else 0.0}


def round_of(agent: Agent, path: str, plan: Plan,
             headers: Mapping[str, str] | None = None) -> Callable[[], Figures]:
    """A round as a thunk for `alternate`, after a warm-up now."""
    wrk_round(agent, path, plan, headers, duration_s=plan.warmup_s)
    return lambda: wrk_round(agent, path, plan, headers)


def medians(rounds: list[Figures], name: str, *, errors_allowed: bool = False) -> dict[str, Any]:
    """Each figure's median over the rounds, errors summed, and the rounds themselves. Errors
    (a refused request counts) void the figures unless allowed: a peer's timeouts are a result."""
    summary: dict[str, Any] = {key: round(median(r[key] for r in rounds), 3)
                               for key in rounds[0] if key != "errors"}
    summary["errors"] = sum(int(r["errors"]) for r in rounds)
    summary["rounds"] = rounds
    if summary["errors"] and not errors_allowed:
        raise RuntimeError(f"{name}: {summary['errors']} failed requests under load")
    return summary
