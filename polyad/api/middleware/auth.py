"""Bearer-token authentication and scope checks, per route, before any view runs.

Requests without a valid token count against their address: once it has spent its allowance
they get 429 before any signature is checked, so forged tokens cannot buy unlimited work.
"""

from __future__ import annotations

import structlog
from aiohttp import hdrs, web

from polyad.api.keys import ACCESS, IDENTITY, RATE_LIMITER
from polyad.api.middleware.clients import forwarding_chain, requester_address
from polyad.errors import Forbidden, InsufficientScope, TooManyRequests, Unauthorized
from polyad.security.access import bearer_token
from polyad.security.clients import from_this_machine
from polyad.security.ratelimit import Limited
from polyad.security.tokens import Identity, InvalidToken

__all__ = ["authenticate"]

log = structlog.get_logger(logger_name="polyad.security")


def _too_many(limited: Limited) -> TooManyRequests:
    return TooManyRequests(f"too many requests without a valid token; retry in "
                           f"{limited.reset_s}s", headers=limited.headers)


async def _refuse(request: web.Request, detail: str) -> Unauthorized:
    limiter = request.app.get(RATE_LIMITER)
    if limiter is not None:
        limited = await limiter.failed_authentication(requester_address(request))
        if limited is not None:
            raise _too_many(limited)
    return Unauthorized(detail)


async def authenticate(request: web.Request, scope: str | None) -> Identity | None:
    """The bearer of the request's token, holding `scope` (the one its route needs); None for an
    open route (no scope), or when auth is disabled (then only this machine is served). Raises
    the 401, 403 or 429 the request gets instead."""
    access = request.app[ACCESS]
    if not access.enabled:
        # Auth off is allowed on a loopback bind only; this holds however the app is served,
        # a reverse proxy on this host included.
        if not from_this_machine(request.remote, forwarding_chain(request)):
            raise Forbidden("authentication is disabled, so this agent serves this machine only")
        return None
    if scope is None:
        return None
    token = bearer_token(request.headers.get(hdrs.AUTHORIZATION))
    if token is None:
        raise await _refuse(request, "this endpoint needs an Authorization: Bearer token")
    limiter = request.app.get(RATE_LIMITER)

    async def unless_spent() -> None:
        if limiter is not None:
            spent = await limiter.authentication_spent(requester_address(request))
            if spent is not None:
                raise _too_many(spent)

    try:
        identity = await access.identify(token, before_work=unless_spent)
    except InvalidToken as error:
        log.info("token rejected", reason=str(error))
        raise await _refuse(request, "the bearer token is not valid") from None
    structlog.contextvars.bind_contextvars(subject=identity.subject)
    if scope not in identity.scopes:
        raise InsufficientScope(scope)
    request[IDENTITY] = identity
    return identity
