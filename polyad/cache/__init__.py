"""The cache: a memory LRU or Redis behind one interface, for task results and expensive reads.

`build_cache` picks the configured backend; with `redis` the agent serves from memory while
Redis is down (resilient.py).
"""

from __future__ import annotations

from polyad.cache.base import COMPONENT, Cache, CacheStats
from polyad.cache.instruments import register_instruments
from polyad.cache.keys import task_result_key
from polyad.cache.memory import MemoryCache
from polyad.cache.setup import build_cache, run_upkeep

__all__ = [
    "COMPONENT",
    "Cache",
    "CacheStats",
    "MemoryCache",
    "build_cache",
    "register_instruments",
    "run_upkeep",
    "task_result_key",
]
