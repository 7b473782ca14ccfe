"""The built-in handlers: system.monitor, system.snapshot, system.processes, system.noop."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated, Any, Literal

import psutil
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from polyad.catalog import by_path
from polyad.collectors import collector_specs
from polyad.snapshot import Snapshot
from polyad.tasks.registry import Handler, TaskContext
from polyad.units import iso_utc
from polyad.views.render import metrics_view

__all__ = ["BUILTIN_HANDLERS", "COMPONENT_PATHS"]

# The components `system.monitor` samples, each by its /metrics paths in the metric catalog: one
# per collector that offers one (the seed's cpu, memory, gpu, network, temperature).
COMPONENT_PATHS: dict[str, tuple[str, ...]] = {
    spec.component: spec.monitored for spec in collector_specs().values() if spec.component}
if TYPE_CHECKING:
    Component = str
else:  # a Literal of the registry's names: the same 422 and OpenAPI enum as a written one
    Component = Literal[tuple(COMPONENT_PATHS)]


class Strict(BaseModel):
    # strict: `false` is not a number of seconds, "5" is not a count
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class NoopData(Strict):
    seconds: float = Field(default=0.0, ge=0, le=3600)


class MonitorData(Strict):
    components: list[Component] = Field(
        default_factory=lambda: list(COMPONENT_PATHS), min_length=1,
        max_length=len(COMPONENT_PATHS))
    duration: float = Field(default=0.0, ge=0, le=3600, description="seconds; 0: one sample")
    interval: float = Field(default=1.0, ge=0.1, le=60)


class SnapshotData(Strict):
    pass


def _integral(value: object) -> object:
    """JSON Schema counts 79.0 as an integer; so does this (but not true, nor "79")."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class ProcessesData(Strict):
    top: Annotated[int, BeforeValidator(_integral)] = Field(default=10, ge=1, le=100)
    sort_by: Literal["cpu", "memory"] = "cpu"


async def noop(context: TaskContext, data: NoopData) -> dict[str, float]:
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < data.seconds:
        context.report_progress(elapsed / data.seconds)
        await asyncio.sleep(min(0.1, data.seconds - elapsed))
    return {"slept_seconds": data.seconds}


def _newest(context: TaskContext) -> Snapshot:
    snapshot = context.snapshot()
    if snapshot is None:
        raise RuntimeError("no sample of the host yet")
    return snapshot


def _sample(snapshot: Snapshot, components: list[Component]) -> dict[str, float | None]:
    """Each path's value; a per-device path (`filesystem.mounts[].usage`) gives its highest,
    the fullest mount, as the one an operator watching would act on."""
    values: dict[str, float | None] = {}
    for component in components:
        for path in COMPONENT_PATHS[component]:
            known = [value for _, value in by_path()[path].readings(snapshot)
                     if value is not None]
            values[path] = (max(known) if "[]" in path else known[0]) if known else None
    return values


def _summary(samples: list[dict[str, Any]], paths: list[str]) -> dict[str, dict[str, float]]:
    summary = {}
    for path in paths:
        known = [s[path] for s in samples if s.get(path) is not None]
        if known:
            summary[path] = {"min": min(known), "avg": round(sum(known) / len(known), 3),
                             "max": max(known)}
    return summary


async def monitor(context: TaskContext, data: MonitorData) -> dict[str, Any]:
    """Samples the chosen components from the agent's own snapshots (no extra host reads)."""
    samples: list[dict[str, Any]] = []
    started = time.monotonic()
    while True:
        snapshot = _newest(context)
        samples.append({"sampled_at": iso_utc(snapshot.taken_at),
                        **_sample(snapshot, data.components)})
        elapsed = time.monotonic() - started
        if elapsed >= data.duration:
            break
        context.report_progress(elapsed / data.duration)
        await asyncio.sleep(min(data.interval, data.duration - elapsed))
    paths = [path for component in data.components for path in COMPONENT_PATHS[component]]
    return {"samples": samples, "summary": _summary(samples, paths)}


async def snapshot(context: TaskContext, _: SnapshotData) -> dict[str, Any]:
    body: dict[str, Any] = metrics_view(_newest(context)).model_dump(mode="json", by_alias=True)
    return body


def _scan_processes(top: int, sort_by: str) -> list[dict[str, Any]]:
    """Blocking: two passes 0.5 s apart (CPU percent needs an interval); runs in an executor."""
    fields = ["pid", "name", "username", "memory_percent", "memory_info"]
    processes = list(psutil.process_iter(fields))
    for process in processes:
        try:
            process.cpu_percent(None)
        except psutil.Error:
            continue
    time.sleep(0.5)
    rows = []
    for process in processes:
        try:
            cpu = process.cpu_percent(None)
        except psutil.Error:
            continue  # gone, or not ours to read
        info = process.info
        rows.append({"pid": info["pid"], "name": info["name"], "user": info["username"],
                     "cpu_percent": round(cpu, 1),
                     "memory_percent": round(info["memory_percent"] or 0.0, 2),
                     "rss_bytes": info["memory_info"].rss if info["memory_info"] else None})
    key = "cpu_percent" if sort_by == "cpu" else "memory_percent"
    rows.sort(key=lambda row: row[key], reverse=True)
    return rows[:top]


async def processes(_: TaskContext, data: ProcessesData) -> dict[str, Any]:
    rows = await asyncio.get_running_loop().run_in_executor(None, _scan_processes, data.top,
                                                            data.sort_by)
    return {"sort_by": data.sort_by, "processes": rows}


BUILTIN_HANDLERS = (
    Handler("system", "monitor", MonitorData, monitor, "Sample components over a duration",
            estimate_s=0.01, timeout_s=3700.0, declared_s=lambda data: data.duration),
    Handler("system", "snapshot", SnapshotData, snapshot, "The newest /metrics view",
            estimate_s=0.01, timeout_s=10.0, cacheable=True, cache_ttl_s=1.0),
    Handler("system", "processes", ProcessesData, processes, "Top processes by CPU or memory",
            estimate_s=0.6, timeout_s=30.0, cacheable=True, cache_ttl_s=5.0),
    Handler("system", "noop", NoopData, noop, "Do nothing, for tests and benchmarks",
            estimate_s=0.0, timeout_s=3700.0, declared_s=lambda data: data.seconds),
)
