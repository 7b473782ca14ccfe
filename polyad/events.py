"""The live stream behind GET /events: what happens in the agent (a tick, an alert changing
state, a task changing state), fanned out to every open stream.

Each event is encoded once, as a Server-Sent Events frame, and put in each stream's own bounded
queue without waiting: a stream that does not keep up loses events (counted in `dropped`), and
never slows the sampler, the alert engine or the task workers. At most `max_clients` streams are
open at once; `close()` ends every one of them (the agent stopping).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson

from polyad.errors import ServiceUnavailable

__all__ = ["EventHub", "frame"]

End = None   # what a stream's queue gets when the hub closes


def frame(kind: str, payload: Any) -> bytes:
    """One SSE event: `event: tick` then `data: {json}` and a blank line."""
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class EventHub:
    def __init__(self, max_clients: int, queue_size: int = 64) -> None:
        self._max_clients = max_clients
        self._queue_size = queue_size
        self._streams: set[asyncio.Queue[bytes | None]] = set()
        self._closed = False
        self.dropped = 0          # events a slow stream did not get

    def open(self) -> asyncio.Queue[bytes | None]:
        """A new stream's queue; ServiceUnavailable when `max_clients` are open already."""
        if self._closed:
            raise ServiceUnavailable("the agent is shutting down", retry_after_s=5)
        if len(self._streams) >= self._max_clients:
            raise ServiceUnavailable(f"{self._max_clients} event streams are open already "
                                     "(events.max_clients)", retry_after_s=10)
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(self._queue_size)
        self._streams.add(queue)
        return queue

    def close_stream(self, queue: asyncio.Queue[bytes | None]) -> None:
        self._streams.discard(queue)

    @property
    def clients(self) -> int:
        return len(self._streams)

    def publish(self, kind: str, payload: Any) -> None:
        if not self._streams:
            return       # nobody listens: not even the encoding is done
        event = frame(kind, payload)
        for queue in self._streams:
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self.dropped += 1

    def close(self) -> None:
        """Every stream gets its end, after what it already has; a full one drops its oldest."""
        self._closed = True
        for queue in self._streams:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(End)
