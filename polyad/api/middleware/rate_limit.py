"""Rate limits per identity (the token's subject, else the client address), after
authentication and before the scope check, so refusals for a missing scope count too."""

from __future__ import annotations

from aiohttp import web

from polyad.api.keys import RATE_LIMITER
from polyad.api.middleware.clients import requester_address
from polyad.errors import TooManyRequests
from polyad.security.tokens import Identity

__all__ = ["enforce_rate_limit"]


async def enforce_rate_limit(request: web.Request, scope: str | None,
                             identity: Identity | None) -> None:
    """Counts the request against its identity's limits (open routes, those with no scope, are
    not limited); raises 429 once one is spent."""
    limiter = request.app.get(RATE_LIMITER)
    if limiter is None or scope is None:
        return
    if identity is not None:
        who = f"sub:{identity.subject}"
    else:
        who = "addr:" + requester_address(request)
    submitting = request.method == "POST" and request.path == "/task"  # not a cancel
    limited = await limiter.hit(who, submitting_task=submitting)
    if limited is not None:
        raise TooManyRequests(f"rate limit of {limited.limit} reached; retry in "
                              f"{limited.reset_s}s", headers=limited.headers)
