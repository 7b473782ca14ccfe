"""Background tasks stop for sure, even one that loses a cancellation (Python 3.11's wait_for
does when the awaited call completes at that moment; redis-py sends commands under it)."""

from __future__ import annotations

import asyncio
import time

from structlog.testing import capture_logs

from polyad.background import stop_tasks


async def _loop_that_loses_cancellations(lost: int, ended: asyncio.Event | None = None) -> None:
    while ended is None or not ended.is_set():
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            if lost == 0:
                raise
            lost -= 1  # what wait_for does on 3.11: carry on as if nothing had happened


async def test_a_task_that_loses_its_cancellation_is_cancelled_again_until_it_stops() -> None:
    task = asyncio.create_task(_loop_that_loses_cancellations(2))
    await asyncio.sleep(0.03)
    started = time.monotonic()
    await stop_tasks([task], within_s=5)
    assert task.cancelled()
    assert time.monotonic() - started < 2.0  # lost twice: cancelled again at 0.5 s and 1 s


async def test_a_task_that_never_stops_is_left_behind_after_the_bound_and_logged() -> None:
    ended = asyncio.Event()
    task = asyncio.create_task(_loop_that_loses_cancellations(10**6, ended), name="stubborn")
    await asyncio.sleep(0.03)
    started = time.monotonic()
    try:
        with capture_logs() as logs:
            await stop_tasks([task], within_s=0.3)
        assert 0.25 < time.monotonic() - started < 1.0
        assert not task.done()
        assert logs == [{"event": "background tasks did not stop; left behind",
                         "logger_name": "polyad", "tasks": ["stubborn"],
                         "log_level": "warning"}]
    finally:
        ended.set()
        await task


async def test_the_errors_of_stopped_tasks_are_not_the_callers_concern() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    failing = asyncio.create_task(fails())
    sleeping = asyncio.create_task(asyncio.sleep(60))
    await asyncio.sleep(0)
    await stop_tasks([failing, sleeping], within_s=1)
    assert sleeping.cancelled()
    assert isinstance(failing.exception(), RuntimeError)
