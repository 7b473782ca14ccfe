"""Canonical cache keys: equal requests get equal keys, whatever order their fields came in."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

__all__ = ["task_result_key"]


def task_result_key(task_type: str, action: str, data: Any) -> str:
    """`task:system.monitor:<sha256 of data as sorted-key JSON>`."""
    digest = hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"task:{task_type}.{action}:{digest}"
