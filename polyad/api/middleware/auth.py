"""Bearer-token authentication, before any view runs, and the scope check, once the rate limit
has counted the request (so a token lacking the scope still runs into 429).

Requests without a valid token count against their address, and get 429 once it has spent
its allowance. A new token from a spent address is still checked, since the address may be
shared with the flooder (a NAT, a proxy): an HMAC one always, a public-key one only within a
small spare allowance (`RateLimiter.spare_verification`), so forged tokens cannot buy
unlimited costly signature checks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import hdrs, web

from polyad.api.keys import ACCESS, IDENTITY, RATE_LIMITER
from polyad.api.middleware.clients import every_forwarded_hop, requester_address
from polyad.errors import BadRequest, Forbidden, InsufficientScope, TooManyRequests, Unauthorized
from polyad.security.access import bearer_token
from polyad.security.clients import from_this_machine
from polyad.security.ratelimit import Limited
from polyad.security.tokens import Identity, InvalidToken

__all__ = ["authenticate", "authorize"]

log = structlog.get_logger(logger_name="polyad.security")


def _too_many(limited: Limited) -> TooManyRequests:
    return TooManyRequests(f"too many requests without a valid token; retry in "
                           f"{limited.reset_s}s", headers=limited.headers)


async def _count_failure(request: web.Request) -> None:
    """Counts a request that brought no valid token against its address; 429 once spent."""
    limiter = request.app.get(RATE_LIMITER)
    if limiter is not None:
        limited = await limiter.failed_authentication(requester_address(request))
        if limited is not None:
            raise _too_many(limited)


async def _authorization(request: web.Request) -> str | None:
    values = request.headers.getall(hdrs.AUTHORIZATION, [])
    if len(values) > 1:
        # Which one counts differs between proxies, servers and libraries: a proxy that checks
        # the last one could pass a request whose first one this agent would read.
        await _count_failure(request)
        raise BadRequest("expected one Authorization header, got several")
    return values[0] if values else None


def _unless_spent(request: web.Request) -> Callable[[], Awaitable[None]] | None:
    """What runs before a costly signature check: 429 for an address past its allowance
    once its spare allowance of checks is gone too."""
    limiter = request.app.get(RATE_LIMITER)
    if limiter is None:
        return None

    async def check() -> None:
        address = requester_address(request)
        spent = await limiter.authentication_spent(address)
        if spent is not None and await limiter.spare_verification(address) is not None:
            raise _too_many(spent)

    return check


async def authenticate(request: web.Request, scope: str | None) -> Identity | None:
    """The bearer of the request's token; None for an open route (no scope), or when auth is
    disabled (then only this machine is served). Raises the 400, 401, 403 or 429 the request
    gets instead. The scope itself is checked by `authorize`."""
    access = request.app[ACCESS]
    if not access.enabled:
        # Auth off is allowed on a loopback bind only; this holds however the app is served,
        # a reverse proxy on this host included.
        if not from_this_machine(request.remote, every_forwarded_hop(request)):
            raise Forbidden("authentication is disabled, so this agent serves this machine only")
        return None
    if scope is None:
        return None
    token = bearer_token(await _authorization(request))
    if token is None:
        identity = _certificate_identity(request)
        if identity is not None:
            return identity
        await _count_failure(request)
        raise Unauthorized("this endpoint needs an Authorization: Bearer token")
    try:
        identity = await access.identify(token, before_costly_check=_unless_spent(request))
    except InvalidToken as error:
        log.info("token rejected", reason=str(error))
        await _count_failure(request)
        raise Unauthorized("the bearer token is not valid") from None
    structlog.contextvars.bind_contextvars(subject=identity.subject)
    return identity


def _certificate_identity(request: web.Request) -> Identity | None:
    """A client certificate the TLS handshake verified, configured to stand in for a token."""
    transport = request.transport
    if transport is None:
        return None
    identity = request.app[ACCESS].certificate_identity(transport.get_extra_info("peercert"))
    if identity is not None:
        structlog.contextvars.bind_contextvars(subject=identity.subject)
    return identity


def authorize(request: web.Request, identity: Identity | None, scope: str | None) -> None:
    """Raises 403 when the token lacks the scope its route needs."""
    if identity is None or scope is None:
        return
    if scope not in identity.scopes:
        raise InsufficientScope(scope)
    request[IDENTITY] = identity
