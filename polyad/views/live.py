"""The payloads of GET /events: a tick's numbers for the console, an alert's change, a task's
new state. Small on purpose: every open stream gets each one."""

from __future__ import annotations

from typing import Any

from polyad.alerts.engine import Alert
from polyad.catalog import by_path, labelled
from polyad.snapshot import Snapshot
from polyad.tasks.model import TaskRecord
from polyad.units import iso_utc
from polyad.views.records import alert_view

__all__ = ["TICK_PATHS", "alert_event", "task_event", "tick_event"]

# What the console shows live; /history has every catalog path.
TICK_PATHS = ("cpu.usage", "cpu.cores[].usage", "cpu.temperature", "memory.usage",
              "gpu.devices[].usage", "gpu.devices[].memory_usage", "gpu.devices[].temperature",
              "gpu.devices[].power_watts", "network.upload_bps", "network.download_bps",
              "disk.read_bytes_per_second", "disk.write_bytes_per_second",
              "filesystem.mounts[].usage", "system.uptime_seconds")


def tick_event(snapshot: Snapshot) -> dict[str, Any]:
    """`values`: by path, a list of {labels, value} (one, without labels, for a scalar path)."""
    values = {}
    for path in TICK_PATHS:
        spec = by_path().get(path)
        if spec is not None:
            values[path] = [{"labels": labelled(spec, labels), "value": value}
                            for labels, value in spec.readings(snapshot)]
    return {"seq": snapshot.seq, "sampled_at": iso_utc(snapshot.taken_at), "values": values,
            "failing": sorted(name for name, report in snapshot.reports.items()
                              if not report.ok)}


def alert_event(event: str, alert: Alert) -> dict[str, Any]:
    """`event`: pending, firing, resolved or inactive (a pending alert that cleared)."""
    return {"event": event, **alert_view(alert).model_dump(mode="json")}


def task_event(record: TaskRecord) -> dict[str, Any]:
    return {"task_id": record.task_id, "type": record.type, "action": record.action,
            "status": record.status, "priority": record.priority,
            "progress": record.progress}
