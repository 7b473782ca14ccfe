"""The cost curve: what one sampler tick costs, and how big a scrape is, as the host grows.

In this process, for this machine and for made-up hosts (bench/big_host.py) at 1/8, 1/4, 1/2
and all of 128 CPUs, 64 disks, 200 mounts, 100 NICs and 8 GPUs with 50 processes (the fake
NVML at the binding's edge): each collector's CPU time per `collect()` (thread time, median
of the plan's repeats), the JSON and exposition renders, their sizes and series counts per
collector. A tick is the collectors' work only: a render is a reader's, memoized per tick.
Then an agent in a subprocess at 1 s sampling, scraped every 15 s, on this machine and on the
biggest host: its CPU share of one core over the idle window."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench import peers
from bench.big_host import HostSize, write_host
from bench.fake_gpus import fake_binding, write_shim
from bench.plan import Context
from bench.processes import http_get
from bench.report import Row, absolute, compared
from bench.scenarios.idle import watch
from polyad.alerts.export import prometheus_name
from polyad.catalog import catalog
from polyad.collectors import Collector, build_collectors
from polyad.collectors.gpu import GpuCollector
from polyad.config import load_config
from polyad.snapshot import CollectorReport, Snapshot
from polyad.telemetry import Telemetry
from polyad.views.render import metrics_view

SCENARIO = "host-size"
BIG = HostSize(cpus=128, disks=64, mounts=200, interfaces=100, gpus=8, gpu_processes=50)
SHARES = (0.125, 0.25, 0.5, 1.0)
SCRAPE_EVERY_S = 15.0


def _median_ms(run: Callable[[], object], repeats: int) -> float:
    costs = []
    for _ in range(repeats):
        started = time.thread_time()
        run()
        costs.append(time.thread_time() - started)
    return round(1000 * statistics.median(costs), 3)


def _collectors(root: Path | None, size: HostSize | None) -> list[Collector[Any]]:
    """This machine's (root None), or the made-up host's with its fake GPUs."""
    overrides: dict[str, Any] = {}
    if root is not None and size is not None:
        overrides = {"host": {"procfs": str(root / "proc"), "sysfs": str(root / "sys"),
                              "rootfs": str(root / "root")},
                     "collectors": {"gpu": {"enabled": False}}}
    config = load_config(environ={}, overrides=overrides)
    collectors = build_collectors(config.collectors, config.host)
    if size is not None:
        collectors.append(GpuCollector(fake_binding(size.gpus, size.gpu_processes)))
    return collectors


def _series_by_collector(exposition: str) -> dict[str, int]:
    owner = {prometheus_name(spec): spec.collector or "agent" for spec in catalog()
             if spec.otel_name is not None}
    counts: Counter[str] = Counter()
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            family = line.split("{", 1)[0].split(" ", 1)[0]
            counts[owner.get(family, "agent")] += 1
    return dict(sorted(counts.items()))


def tick_cost(root: Path | None, size: HostSize | None, repeats: int) -> dict[str, Any]:
    collectors = _collectors(root, size)
    try:
        samples = {collector.name: collector.collect() for collector in collectors}  # rates
        per_collector = {collector.name: _median_ms(collector.collect, repeats)
                         for collector in collectors}
        samples = {collector.name: collector.collect() for collector in collectors}
    finally:
        for collector in collectors:
            collector.close()
        psutil.PROCFS_PATH = "/proc"
    now = datetime.now(UTC)
    snapshot = Snapshot(seq=1, taken_at=now, monotonic_s=time.monotonic(), started_at=now,
                        reports={name: CollectorReport(name, "ok", 0.001) for name in samples},
                        samples=samples)
    current = [snapshot]
    telemetry = Telemetry(lambda: current[0])

    def render_exposition() -> bytes:
        current[0] = replace(current[0], seq=current[0].seq + 1)   # past the per-tick memo
        return telemetry.render("text/plain")[0]

    exposition = render_exposition()
    document = metrics_view(snapshot).model_dump_json().encode()
    figures = {"collect_ms": per_collector,
               "collect_ms_total": round(sum(per_collector.values()), 3),
               "render_json_ms": _median_ms(lambda: metrics_view(snapshot).model_dump_json(),
                                            repeats),
               "render_exposition_ms": _median_ms(render_exposition, repeats),
               "json_bytes": len(document), "exposition_bytes": len(exposition),
               "series": _series_by_collector(exposition.decode())}
    telemetry.shutdown()
    # A tick is the collectors' work; the renders are a reader's, once per tick at most
    # (memoized), and only when someone asks.
    figures["tick_ms"] = figures["collect_ms_total"]
    return figures


def idle_share(context: Context, name: str, root: Path | None,
               size: HostSize | None) -> dict[str, Any]:
    """An agent at 1 s sampling, scraped as Prometheus would: CPU % of one core."""
    env = {"POLYAD_SAMPLER__INTERVAL": "1s"}
    if root is not None and size is not None:
        shim = write_shim(context.work_dir / f"{name}-nvml", size.gpus, size.gpu_processes)
        env |= {"POLYAD_HOST__PROCFS": str(root / "proc"),
                "POLYAD_HOST__SYSFS": str(root / "sys"),
                "POLYAD_HOST__ROOTFS": str(root / "root"), **shim}
    with peers.polyad(context.work_dir, name, extra_env=env) as agent:
        figures = watch(agent.agent, "/metrics/prom", agent.auth, SCRAPE_EVERY_S,
                        context.plan)
        _, body = http_get(agent.agent.url + "/metrics/prom", agent.auth)
        figures["exposition_bytes"] = len(body)
    return figures


def run(context: Context) -> tuple[list[Row], dict[str, Any]]:
    repeats = 5 if context.plan.quick else 30
    raw: dict[str, Any] = {"repeats": repeats, "this_machine": tick_cost(None, None, repeats)}
    curve = []
    for share in SHARES:
        size = BIG.scaled(share)
        root = context.work_dir / f"host-{share:g}"
        write_host(root, size)
        curve.append({"share": share, "size": size.__dict__, "label": size.label,
                      **tick_cost(root, size, repeats)})
    raw["curve"] = curve
    biggest = context.work_dir / f"host-{SHARES[-1]:g}"
    raw["idle_this_machine"] = idle_share(context, "polyad-size-small", None, None)
    raw["idle_big_host"] = idle_share(context, "polyad-size-big", biggest, BIG)
    small, big, first = raw["this_machine"], curve[-1], curve[0]
    cpu = "cpu_percent_of_one_core"
    rows = [
        absolute(SCENARIO, "tick CPU ms, this machine", small["tick_ms"]),
        absolute(SCENARIO, f"tick CPU ms, {BIG.label}", big["tick_ms"], "≤ 20 ms",
                 lambda ms: ms <= 20),
        compared(SCENARIO, "tick CPU growth, 1/8 host → whole", big["tick_ms"] / first["tick_ms"],
                 1 / SHARES[0], "linear growth", "≤ 1 (linear or better)",
                 lambda ratio: ratio <= 1.0),
        absolute(SCENARIO, "idle CPU % of one core, this machine",
                 raw["idle_this_machine"][cpu], "≤ 0.5 %", lambda share: share <= 0.5),
        absolute(SCENARIO, "idle CPU % of one core, big host", raw["idle_big_host"][cpu],
                 "≤ 2 %", lambda share: share <= 2.0),
        absolute(SCENARIO, "fresh scrape render ms, big host", big["render_exposition_ms"]),
        compared(SCENARIO, "scrape render growth, 1/8 host → whole",
                 big["render_exposition_ms"] / first["render_exposition_ms"], 1 / SHARES[0],
                 "linear growth", "≤ 1 (linear or better)", lambda ratio: ratio <= 1.0),
        absolute(SCENARIO, "scrape KB, big host", big["exposition_bytes"] / 1000),
    ]
    return rows, raw
