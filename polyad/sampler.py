"""The one loop that runs the collectors every interval and publishes a new Snapshot.

Each collector runs in a worker thread of its own under a time box, one collector after another:
a slow one is reported as a timeout for that tick and is not started again until its last call
returns, so nothing piles up and the schedule does not drift (a tick in which several collectors
hang for the first time takes a time box for each; the next ticks skip them). The threads live
as long as the sampler (starting one per call cost more than most collectors' work) and are
daemons: a driver call that never returns must not keep the process from exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
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
        self._workers: dict[str, _Worker] = {}
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
        outcomes = await self._run_all(loop)
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
        for worker in self._workers.values():
            worker.stop()
        self._workers.clear()
        for collector in self._collectors:
            busy = self._busy.get(collector.name)
            if busy is None:
                _close(collector)
            else:  # never pull a driver down under a call still running in it
                busy[0].add_done_callback(functools.partial(_close_when_done, collector))

    async def _run_all(self, loop: asyncio.AbstractEventLoop) -> list[tuple[CollectorReport, Any]]:
        """Each collector's call, one after another: started together, their threads would
        fight over the GIL at every file read (a tick cost twice its collecting). Each waits
        at most the time box; one that overruns is left to its thread, and the next starts."""
        outcomes = []
        for collector in self._collectors:
            started = time.perf_counter()
            call = None
            if collector.name not in self._busy:
                call = self._worker(collector, loop).call()
                await asyncio.wait((call,), timeout=self._timeout_s)
            outcomes.append(self._outcome(collector, call, started))
        return outcomes

    def _worker(self, collector: Collector[Any], loop: asyncio.AbstractEventLoop) -> _Worker:
        worker = self._workers.get(collector.name)
        if worker is None or worker.loop is not loop:
            if worker is not None:
                worker.stop()
            worker = self._workers[collector.name] = _Worker(collector, loop)
        return worker

    def _outcome(self, collector: Collector[Any], call: asyncio.Future[Any] | None,
                 started: float) -> tuple[CollectorReport, Any]:
        name = collector.name
        if call is None:
            stuck_for_s = time.perf_counter() - self._busy[name][1]
            return self._report(name, "timeout", stuck_for_s,
                                "still busy with an earlier tick"), None
        if not call.done():
            self._busy[name] = (call, started)
            call.add_done_callback(lambda done: self._release(name, done))
            return self._report(name, "timeout", time.perf_counter() - started,
                                f"no answer within {self._timeout_s:g}s"), None
        sample, duration_s = call.result()
        if isinstance(sample, _Failure):
            error = sample.error
            return self._report(name, "failed", duration_s,
                                f"{type(error).__name__}: {error}"), None
        report = self._report(name, "ok", duration_s)
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


@dataclass(frozen=True, slots=True)
class _Failure:
    error: BaseException


class _Worker:
    """A collector's own daemon thread: takes one call at a time from its queue, and settles
    the call's future on the loop with (sample or _Failure, seconds it took)."""

    def __init__(self, collector: Collector[Any], loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._collector = collector
        self._calls: queue.SimpleQueue[asyncio.Future[Any] | None] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name=f"polyad-collector-{collector.name}",
                         daemon=True).start()

    def call(self) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = self.loop.create_future()
        self._calls.put(future)
        return future

    def stop(self) -> None:
        """Ends the thread once its call under way, if any, returns."""
        self._calls.put(None)

    def _serve(self) -> None:
        while (future := self._calls.get()) is not None:
            started = time.perf_counter()
            try:
                outcome: Any = self._collector.collect()
            except BaseException as error:
                outcome = _Failure(error)
            taken = (outcome, time.perf_counter() - started)
            # The loop may be gone when a stuck call finally returns; nobody waits for it then.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(_settle, future, taken)


def _settle(future: asyncio.Future[Any], taken: tuple[Any, float]) -> None:
    if not future.done():
        future.set_result(taken)


def _close_when_done(collector: Collector[Any], _: asyncio.Future[Any]) -> None:
    _close(collector)


def _close(collector: Collector[Any]) -> None:
    try:
        collector.close()
    except Exception as error:
        log.warning("collector failed to close", collector=collector.name, error=repr(error))
