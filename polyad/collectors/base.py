"""What every collector is: a name, a blocking `collect()` returning one sample, `close()`."""

from __future__ import annotations

from typing import Protocol, TypeVar

import structlog

__all__ = ["Collector", "NoDataLog"]

SampleT_co = TypeVar("SampleT_co", covariant=True)


class Collector(Protocol[SampleT_co]):
    """Runs in a worker thread; never called twice at once for the same instance."""

    name: str
    # Why the collector has nothing to give on this host (no driver, no sensors), else None.
    no_data: str | None

    def collect(self) -> SampleT_co: ...

    def close(self) -> None: ...


class NoDataLog:
    """Says once, at debug, that a source has nothing to give here (no GPU, no sensors)."""

    def __init__(self, collector: str) -> None:
        self._collector = collector
        self._said: set[str] = set()

    def once(self, reason: str) -> None:
        if reason in self._said:
            return
        self._said.add(reason)
        structlog.get_logger(logger_name="polyad.collectors").debug(
            "collector has no data", collector=self._collector, reason=reason
        )
