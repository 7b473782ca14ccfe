"""Rate limits per identity (the token's subject, else the client address), after auth."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from polyad.api.keys import IDENTITY, RATE_LIMITER, REQUIRED_SCOPE
from polyad.api.middleware.clients import requester_address
from polyad.errors import TooManyRequests

__all__ = ["rate_limit"]


@web.middleware
async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    limiter = request.app.get(RATE_LIMITER)
    if limiter is None:
        return await handler(request)
    scope = request.get(REQUIRED_SCOPE)  # set by the auth middleware, which runs first
    if scope is None:  # an open route (health, readiness, OpenAPI)
        return await handler(request)
    identity = request.get(IDENTITY)
    if identity is not None:
        who = f"sub:{identity.subject}"
    else:
        who = "addr:" + requester_address(request)
    limited = await limiter.hit(who, submitting_task=scope == "tasks" and request.method == "POST")
    if limited is not None:
        raise TooManyRequests(f"rate limit of {limited.limit} reached; retry in "
                              f"{limited.reset_s}s", headers=limited.headers)
    return await handler(request)
