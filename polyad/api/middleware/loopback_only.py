"""Until authentication exists, only clients on this machine are served.

`serve()` already refuses a non-loopback bind; this holds the line when the app is mounted some
other way (`web.run_app(create_app(), host="0.0.0.0")`, gunicorn). The security issue replaces it.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from polyad.config import is_loopback
from polyad.errors import Forbidden

__all__ = ["loopback_only"]


@web.middleware
async def loopback_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.remote is None or not is_loopback(request.remote):
        raise Forbidden("this agent has no authentication yet, so it serves this machine only")
    return await handler(request)
