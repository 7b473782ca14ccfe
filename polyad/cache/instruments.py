"""The cache's OpenTelemetry instruments, read from its last known numbers (no I/O in a
scrape)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from polyad.cache.base import Cache, CacheStats

__all__ = ["register_instruments"]

Callback = Callable[[CallbackOptions], Iterable[Observation]]


def register_instruments(meter: Meter, cache: Cache) -> None:
    def observe(read: Callable[[CacheStats], int]) -> Callback:
        return lambda _: [Observation(read(cache.snapshot_stats()))]

    meter.create_observable_counter(
        "polyad.cache.hits", [observe(lambda stats: stats.hits)], unit="{request}",
        description="Cache lookups that found a value")
    meter.create_observable_counter(
        "polyad.cache.misses", [observe(lambda stats: stats.misses)], unit="{request}",
        description="Cache lookups that found nothing")
    meter.create_observable_counter(
        "polyad.cache.evictions", [observe(lambda stats: stats.evictions)], unit="{entry}",
        description="Entries dropped to make room")
    meter.create_observable_gauge(
        "polyad.cache.size", [observe(lambda stats: stats.size_bytes)], unit="By",
        description="Bytes the cache holds (for redis, the server's used memory)")
