"""Snapshots and records → the JSON models clients read, with no HTTP in them: the API answers
with these, and task handlers return them as results.

`schemas` holds the models; `render` the snapshot views (/metrics, /status), each rendered once
per snapshot; `records` the task, alert and cache views.
"""

from __future__ import annotations

from polyad.views.records import alert_view, cache_stats_view, task_view
from polyad.views.render import JsonViews, metrics_view, status_view

__all__ = [
    "JsonViews",
    "alert_view",
    "cache_stats_view",
    "metrics_view",
    "status_view",
    "task_view",
]
