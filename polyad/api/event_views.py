"""GET /events: the agent's live stream, as Server-Sent Events (polyad/events.py)."""

from __future__ import annotations

import asyncio

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
    response = web.StreamResponse(headers={
        hdrs.CONTENT_TYPE: EVENT_STREAM, hdrs.CACHE_CONTROL: "no-cache",
        "X-Accel-Buffering": "no"})   # nginx: pass each event on at once
    try:
        await response.prepare(request)
        await _stream(response, queue, settings.max_duration, settings.heartbeat)
        await response.write_eof()
    except ConnectionError:   # the client went away: its stream is over, nothing went wrong
        pass
    finally:
        hub.close_stream(queue)
    return response


async def _stream(response: web.StreamResponse, queue: asyncio.Queue[bytes | None],
                  max_duration_s: float, heartbeat_s: float) -> None:
    await response.write(f"retry: {RETRY_MS}\n\n".encode())
    loop = asyncio.get_running_loop()
    ends_at = loop.time() + max_duration_s
    while (left_s := ends_at - loop.time()) > 0:
        try:
            event = await asyncio.wait_for(queue.get(), min(left_s, heartbeat_s))
        except TimeoutError:
            await response.write(b": keep-alive\n\n")
            continue
        if event is None:   # the agent is stopping
            return
        await response.write(event)
