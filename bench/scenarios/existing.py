"""The benchmarks that run as scripts of their own (bench/tasks_throughput.py,
bench/task_estimates.py, bench/cache_throughput.py, bench/status_throughput.py), read back from
their JSON lines."""

from __future__ import annotations

import json
import operator
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from bench.plan import Context
from bench.processes import REPO_ROOT
from bench.report import Row, absolute, compared
from bench.rounds import median


def json_lines(module: str, args: Sequence[str]) -> list[dict[str, Any]]:
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def tasks(context: Context) -> tuple[list[Row], dict[str, Any]]:
    runs = [json_lines("bench.tasks_throughput", context.plan.tasks_args)
            for _ in range(context.plan.tasks_runs)]
    rows: list[Row] = []
    raw: dict[str, Any] = {"runs": runs}
    for backend, floor in (("memory", 5000), ("redis", 2000)):
        reports = [line for lines in runs for line in lines if line["backend"] == backend]
        accepted = median(report["accepted_per_s"] for report in reports)
        completed = median(report["completed_per_s"] for report in reports)
        raw[backend] = {"accepted_per_s": accepted, "completed_per_s": completed}
        rows += [absolute("tasks", f"{backend}: accepted/s", accepted, f"≥ {floor:,}/s",
                          partial(operator.le, floor)),
                 absolute("tasks", f"{backend}: completed/s", completed)]
    return rows, raw


def estimates(context: Context) -> tuple[list[Row], dict[str, Any]]:
    """|estimated - actual| / actual of each task's time from submission to end."""
    reports = json_lines("bench.task_estimates", context.plan.estimates_args)
    rows: list[Row] = []
    for report in reports:
        setting = f"{report['backend']}, {report['workers']} worker(s)"
        rows += [absolute("estimates", f"{setting}: median error %",
                          round(100 * report["median_error"], 1), "≤ 25 %",
                          partial(operator.ge, 25)),
                 absolute("estimates", f"{setting}: p90 error %",
                          round(100 * report["p90_error"], 1), "≤ 60 %",
                          partial(operator.ge, 60))]
    return rows, {"runs": reports}


def _cache_row(figure: str, report: dict[str, float], baseline: str,
               floor: float | None = None) -> Row:
    if floor is None:
        return compared("cache", figure, report["ops_per_s"], report["baseline_ops_per_s"],
                        baseline)
    row = compared("cache", figure, report["ops_per_s"], report["baseline_ops_per_s"], baseline,
                   f"≥ {floor / 1000:,.0f}k/s")
    return replace(row, met=report["ops_per_s"] >= floor)


def cache(context: Context) -> tuple[list[Row], dict[str, Any]]:
    (report,) = json_lines("bench.cache_throughput", context.plan.cache_args)
    memory = report["memory"]
    rows = [_cache_row("memory get ops/s", memory["get"], "dict", 500_000),
            _cache_row("memory set ops/s", memory["set"], "dict")]
    if "redis" in report:
        sequential = report["redis"]["sequential"]
        batched = next(value for key, value in report["redis"].items()
                       if key.startswith("batched"))
        rows += [_cache_row("redis get ops/s, one by one", sequential["get"], "redis-py"),
                 _cache_row("redis set ops/s, one by one", sequential["set"], "redis-py"),
                 _cache_row("redis get ops/s, pipelined", batched["get"], "redis-py", 50_000),
                 _cache_row("redis set ops/s, pipelined", batched["set"], "redis-py", 50_000)]
    return rows, report


def auth_cost(context: Context) -> tuple[list[Row], dict[str, Any]]:
    (report,) = json_lines("bench.status_throughput", context.plan.auth_args)
    on_per_cpu_s = 1e6 / report["cpu_us_per_request_on"]
    off_per_cpu_s = 1e6 / report["cpu_us_per_request_off"]
    row = compared("auth cost", "GET /status req per CPU-s", on_per_cpu_s, off_per_cpu_s,
                   "auth + limits off", "≥ 0.85x (cost < 15 %)", lambda ratio: ratio >= 0.85)
    return [row], report
