"""The one loop that runs the collectors every interval and publishes a new Snapshot.

Each collector runs in a worker thread under a time box: a slow one is reported as a timeout for
that tick and is not started again until its last call returns, so nothing piles up and the
schedule does not drift. The threads are daemons: a driver call that never returns must not keep
the process from exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import structlog

from polyad.background import stop_tasks
from polyad.collectors import Collector
from polyad.snapshot import CollectorReport, Snapshot

__all__ = ["Sampler"]

log = structlog.get_logger(logger_name="polyad.sampler")

OVERRUN_LOG_INTERVAL_S = 60.0


class Sampler:
    def __init__(
        self, collectors: Sequence[Collector[Any]], interval_s: float, timeout_s: float
    ) -> None:
        self._collectors = list(collectors)
        self.interval_s = interval_s
        self._timeout_s = timeout_s
        # collector name → (its call that overran, when that call started)
        self._busy: dict[str, tuple[asyncio.Future[Any], float]] = {}
        self._failing: set[str] = set()
        self._started_at = datetime.now(UTC)
        self._seq = 0
        self.snapshot: Snapshot | None = None
        self.first_snapshot = asyncio.Event()
        self.skipped_ticks = 0
        self._overruns_logged = 0
        self._overrun_logged_at_s = float("-inf")
        self._loop_task: asyncio.Task[None] | None = None

    async def sample_once(self) -> Snapshot:
        loop = asyncio.get_running_loop()
        taken_at, monotonic_s = datetime.now(UTC), loop.time()
        outcomes = await asyncio.gather(*(self._run(collector) for collector in self._collectors))
        self._seq += 1
        samples = {report.name: sample for report, sample in outcomes if sample is not None}
        snapshot = Snapshot(
            seq=self._seq,
            taken_at=taken_at,
            monotonic_s=monotonic_s,
            started_at=self._started_at,
            reports={report.name: report for report, _ in outcomes},
            samples=samples,
        )
        self.snapshot = snapshot
        self.first_snapshot.set()
        return snapshot

    def snapshot_age_s(self) -> float | None:
        if self.snapshot is None:
            return None
        return max(0.0, asyncio.get_running_loop().time() - self.snapshot.monotonic_s)

    def is_stale(self) -> bool:
        """True when ticks have stopped coming (the loop died or is stuck)."""
        age_s = self.snapshot_age_s()
        limit_s = max(3 * self.interval_s, self.interval_s + self._timeout_s + 1.0)
        return age_s is None or age_s > limit_s

    async def run(self) -> None:
        """Tick on a fixed grid; a tick that overran skips the grid points it missed."""
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            try:
                await self.sample_once()
            except Exception:  # a bug here must not end sampling for good
                log.exception("sampler tick failed")
            next_tick += self.interval_s
            now = loop.time()
            if now > next_tick:
                missed = int((now - next_tick) // self.interval_s) + 1
                next_tick += missed * self.interval_s
                self._note_overrun(missed, now)
            await asyncio.sleep(next_tick - now)

    def _note_overrun(self, missed: int, now_s: float) -> None:
        self.skipped_ticks += missed
        # At most one warning a minute, carrying the count, however often it happens.
        if now_s - self._overrun_logged_at_s >= OVERRUN_LOG_INTERVAL_S:
            log.warning("sampler overran its interval",
                        skipped_ticks=self.skipped_ticks - self._overruns_logged)
            self._overrun_logged_at_s = now_s
            self._overruns_logged = self.skipped_ticks

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self.run(), name="polyad-sampler")

    async def stop(self) -> None:
        if self._loop_task is not None:
            await stop_tasks([self._loop_task])
            self._loop_task = None

    def close(self) -> None:
        for collector in self._collectors:
            busy = self._busy.get(collector.name)
            if busy is None:
                _close(collector)
            else:  # never pull a driver down under a call still running in it
                busy[0].add_done_callback(functools.partial(_close_when_done, collector))

    async def _run(self, collector: Collector[Any]) -> tuple[CollectorReport, Any]:
        name = collector.name
        if name in self._busy:
            stuck_for_s = time.perf_counter() - self._busy[name][1]
            return self._report(name, "timeout", stuck_for_s,
                                "still busy with an earlier tick"), None
        started = time.perf_counter()
        future = _in_daemon_thread(collector.collect, f"polyad-collector-{name}")
        try:
            sample = await asyncio.wait_for(asyncio.shield(future), self._timeout_s)
        except TimeoutError:
            self._busy[name] = (future, started)
            future.add_done_callback(lambda done: self._release(name, done))
            return self._report(name, "timeout", time.perf_counter() - started,
                                f"no answer within {self._timeout_s:g}s"), None
        except Exception as error:
            return self._report(name, "failed", time.perf_counter() - started,
                                f"{type(error).__name__}: {error}"), None
        report = self._report(name, "ok", time.perf_counter() - started)
        return replace(report, no_data=collector.no_data), sample

    def _release(self, name: str, done: asyncio.Future[Any]) -> None:
        self._busy.pop(name, None)
        if not done.cancelled():
            done.exception()  # retrieved, so asyncio does not warn about it

    def _report(self, name: str, outcome: Any, duration_s: float,
                error: str | None = None) -> CollectorReport:
        # Log on change only: a collector failing every second should not flood the log.
        if outcome != "ok" and name not in self._failing:
            self._failing.add(name)
            log.warning("collector failed", collector=name, outcome=outcome, error=error)
        elif outcome == "ok" and name in self._failing:
            self._failing.discard(name)
            log.info("collector recovered", collector=name)
        return CollectorReport(name, outcome, round(duration_s, 6), error)


def _in_daemon_thread(work: Callable[[], Any], thread_name: str) -> asyncio.Future[Any]:
    """Run `work` in a new daemon thread; its outcome settles the returned future."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def run() -> None:
        result, error = None, None
        try:
            result = work()
        except BaseException as raised:
            error = raised
        # The loop may be gone when a stuck call finally returns; nobody waits for it then.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name=thread_name, daemon=True).start()
    return future


def _close_when_done(collector: Collector[Any], _: asyncio.Future[Any]) -> None:
    _close(collector)


def _close(collector: Collector[Any]) -> None:
    try:
        collector.close()
    except Exception as error:
        log.warning("collector failed to close", collector=collector.name, error=repr(error))
