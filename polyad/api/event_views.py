"""GET /events: the agent's live stream, as Server-Sent Events (polyad/events.py)."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import hdrs, web

from polyad.api.keys import CONFIG, EVENTS
from polyad.errors import NotFound

__all__ = ["EVENT_STREAM", "events"]

EVENT_STREAM = "text/event-stream"
RETRY_MS = 2000   # the browser's EventSource waits this long before it reconnects


async def events(request: web.Request) -> web.StreamResponse:
    hub = request.app.get(EVENTS)
    if hub is None:
        raise NotFound("the event stream is off")
    settings = request.app[CONFIG].events
    queue = hub.open()
    try:
        response = web.StreamResponse(headers={
            hdrs.CONTENT_TYPE: EVENT_STREAM, hdrs.CACHE_CONTROL: "no-cache",
            "X-Accel-Buffering": "no"})   # nginx: pass each event on at once
        await response.prepare(request)
        await response.write(f"retry: {RETRY_MS}\n\n".encode())
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + settings.max_duration
        while (left_s := ends_at - loop.time()) > 0:
            try:
                event = await asyncio.wait_for(queue.get(), min(left_s, settings.heartbeat))
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if event is None:   # the agent is stopping
                break
            await response.write(event)
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response
    finally:
        hub.close_stream(queue)
