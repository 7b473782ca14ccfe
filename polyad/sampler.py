"""The one loop that runs the collectors every interval and publishes a new Snapshot.

One runner thread calls the collectors one after another, under one time box for them all, and
wakes the loop once a tick. The collector that overruns the box is reported as a timeout for
that tick and keeps that thread until its call returns (it is not called again meanwhile, so
nothing piles up); a new runner takes the others, at once and at the next ticks, so the schedule
does not drift. The threads are daemons: a driver call that never returns must not keep the
process from exiting. (Each collector in a thread of its own, all at once, cost twice the
collecting: the threads fought over the GIL at every file read, and each woke the loop.)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
import time
from collections.abc import Callable, Sequence
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
        self._runner: _Runner | None = None
        self._failing: set[str] = set()
        self._started_at = datetime.now(UTC)
        self._seq = 0
        self.snapshot: Snapshot | None = None
        self.first_snapshot = asyncio.Event()
        # Called with each new snapshot, in the loop, once it is published (the history).
        self.listeners: list[Callable[[Snapshot], None]] = []
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
        for listener in self.listeners:
            try:
                listener(snapshot)
            except Exception:  # a reader's bug must not stop the sampling
                log.exception("snapshot listener failed", listener=repr(listener))
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
        if self._runner is not None:
            self._runner.stop()
            self._runner = None
        for collector in self._collectors:
            busy = self._busy.get(collector.name)
            if busy is None:
                _close(collector)
            else:  # never pull a driver down under a call still running in it
                busy[0].add_done_callback(functools.partial(_close_when_done, collector))

    async def _run_all(self, loop: asyncio.AbstractEventLoop) -> list[tuple[CollectorReport, Any]]:
        """Every collector's call, one after another in the runner's thread (started together
        in threads of their own, they fought over the GIL at every file read, and each woke the
        loop): the loop wakes once, when the last returns, or at the time box. Then a call that
        overran is left to that thread, and a new runner takes the collectors not called yet."""
        outcomes = {name: self._still_busy(name) for name in self._busy}
        waiting = [collector for collector in self._collectors if collector.name not in outcomes]
        while waiting:
            started = time.perf_counter()
            batch = self._runner_on(loop).call(waiting)
            await asyncio.wait((batch.done,), timeout=self._timeout_s)
            waiting = self._take(batch, outcomes, started)
        return [outcomes[collector.name] for collector in self._collectors]

    def _runner_on(self, loop: asyncio.AbstractEventLoop) -> _Runner:
        if self._runner is None or self._runner.loop is not loop:
            if self._runner is not None:
                self._runner.stop()
            self._runner = _Runner(loop)
        return self._runner

    def _take(self, batch: _Batch, outcomes: dict[str, tuple[CollectorReport, Any]],
              started: float) -> list[Collector[Any]]:
        """The batch's outcomes into `outcomes`; returns the collectors it did not call."""
        with batch.lock:
            if not batch.finished:      # the time box passed: give the batch up
                batch.abandoned = True
                self._runner = None     # it ends by itself, once it is out of the stuck call
                stuck = batch.running
                if stuck is not None:
                    batch.stuck = batch.done.get_loop().create_future()
                    self._busy[stuck] = (batch.stuck, started)
                    batch.stuck.add_done_callback(lambda done: self._release(stuck, done))
                    outcomes[stuck] = (self._report(stuck, "timeout",
                                                    time.perf_counter() - started,
                                                    f"no answer within {self._timeout_s:g}s"),
                                       None)
            taken = dict(batch.taken)
        for collector in batch.collectors:
            if collector.name in taken:
                outcomes[collector.name] = self._outcome(collector, *taken[collector.name])
        return [collector for collector in batch.collectors if collector.name not in outcomes]

    def _still_busy(self, name: str) -> tuple[CollectorReport, Any]:
        stuck_for_s = time.perf_counter() - self._busy[name][1]
        return self._report(name, "timeout", stuck_for_s, "still busy with an earlier tick"), None

    def _outcome(self, collector: Collector[Any], sample: Any,
                 duration_s: float) -> tuple[CollectorReport, Any]:
        name = collector.name
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


class _Batch:
    """A tick's collectors, called in order by a runner, and what each gave: (sample or
    _Failure, seconds it took). Shared by the runner's thread and the loop, under `lock`."""

    def __init__(self, collectors: list[Collector[Any]], loop: asyncio.AbstractEventLoop) -> None:
        self.collectors = collectors
        self.done: asyncio.Future[None] = loop.create_future()   # when the last one returned
        self.lock = threading.Lock()
        self.taken: dict[str, tuple[Any, float]] = {}
        self.running: str | None = None
        self.finished = False        # every collector called: set by the runner
        self.abandoned = False       # the loop gave up waiting first: the runner calls no more
        self.stuck: asyncio.Future[tuple[Any, float]] | None = None   # the overrunning call's


class _Runner:
    """A daemon thread that calls a tick's collectors one after another and settles the batch
    on the loop once. Given up (a call overran the time box), it ends when that call returns,
    settling the call's own future; a new runner serves the next ticks."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._batches: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="polyad-collectors", daemon=True).start()

    def call(self, collectors: list[Collector[Any]]) -> _Batch:
        batch = _Batch(collectors, self.loop)
        self._batches.put(batch)
        return batch

    def stop(self) -> None:
        """Ends the thread after the batch under way, if any."""
        self._batches.put(None)

    def _serve(self) -> None:
        while (batch := self._batches.get()) is not None:
            if not self._run(batch):
                return   # given up: a new runner took over

    def _run(self, batch: _Batch) -> bool:
        for collector in batch.collectors:
            with batch.lock:
                if batch.abandoned:
                    return False
                batch.running = collector.name
            started = time.perf_counter()
            try:
                outcome: Any = collector.collect()
            except BaseException as error:
                outcome = _Failure(error)
            taken = (outcome, time.perf_counter() - started)
            with batch.lock:
                batch.running = None
                if batch.abandoned:   # the loop gave up on this call: it settles alone
                    self._settle(batch.stuck, taken)
                    return False
                batch.taken[collector.name] = taken
        with batch.lock:
            if batch.abandoned:
                return False
            batch.finished = True
        self._settle(batch.done, None)
        return True

    def _settle(self, future: asyncio.Future[Any] | None, result: Any) -> None:
        # The loop may be gone when a stuck call finally returns; nobody waits for it then.
        if future is not None:
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(_settle, future, result)


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _close_when_done(collector: Collector[Any], _: asyncio.Future[Any]) -> None:
    _close(collector)


def _close(collector: Collector[Any]) -> None:
    try:
        collector.close()
    except Exception as error:
        log.warning("collector failed to close", collector=collector.name, error=repr(error))
