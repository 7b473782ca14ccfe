"""What agents tell each other over the queue's channel, and how an idle worker hears it: "work
queued in this pool" wakes a waiting worker, "cancel this task" reaches the agent running it
(which also sees the flag at its next lease renewal, should the message be lost).

Idle workers wait for a message only. Should one be missed, the store's upkeep wakes one idle
worker every lease/3 to look (`nudge`) while its counts say work waits: one claim per agent
then, where a poll per worker each second made an idle agent's workers most of its Redis
traffic (28 of 31 commands/s at the defaults, docs/fleet.md)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable

from polyad.redis_link import UNREACHABLE, Client

__all__ = ["WorkSignals", "listen"]

_LISTEN_POLL_S = 0.2


class WorkSignals:
    """Idle workers waiting for work, each on a future of its own. A plain future per waiter:
    a Condition under wait_for deadlocked when workers were cancelled together (measured on
    Python 3.11)."""

    def __init__(self) -> None:
        self.generation = 0     # goes up with each announcement
        self.idle_workers = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def work_queued(self, entries: int | None = 1) -> None:
        """Wakes a waiting worker per entry (None: all of them); waking every worker for one
        entry would send them all to claim it, and all but one for nothing."""
        self.generation += 1
        woken = 0
        for waiter in list(self._waiters):
            if entries is not None and woken >= entries:
                break
            if not waiter.done():
                waiter.set_result(None)
                woken += 1

    def nudge(self) -> None:
        """Wakes one idle worker to look for work (a "queued" message may have been missed)."""
        if self.idle_workers:
            self.work_queued(1)

    async def wait_for_work(self, generation: int) -> None:
        """Until work is announced, or a `nudge`."""
        if self.generation != generation:
            return  # announced while this worker was claiming
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            waiter.cancel()
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)


async def listen(client: Client, channel: str, heard: Callable[[str], Awaitable[None]],
                 signals: WorkSignals, closing: asyncio.Event,
                 unreachable: Callable[[BaseException], float]) -> None:
    """Until `closing` is set: each message on the channel to `heard`. `unreachable` is told
    of a Redis error and says how long to wait before listening again.

    Stopped by a flag, not by cancellation: a cancelled pub/sub read was seen to hang for good
    (most likely Python 3.11's wait_for losing the cancellation, see polyad/background.py), so
    the loop polls and looks at the flag."""
    while not closing.is_set():
        try:
            async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                await pubsub.subscribe(channel)
                signals.work_queued(None)  # whatever was said while not listening
                while not closing.is_set():
                    message = await pubsub.get_message(timeout=_LISTEN_POLL_S)
                    if message is not None and message["type"] == "message":
                        await heard(message["data"])
        except UNREACHABLE as error:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), unreachable(error))
