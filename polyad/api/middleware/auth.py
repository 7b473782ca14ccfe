"""Bearer-token authentication and scope checks, per route, before any view runs."""

from __future__ import annotations

import structlog
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from polyad.api.keys import ACCESS, IDENTITY, REQUIRED_SCOPE
from polyad.api.middleware.route import route_template
from polyad.errors import Forbidden, InsufficientScope, Unauthorized
from polyad.security.access import bearer_token, is_local_peer
from polyad.security.tokens import InvalidToken

__all__ = ["authenticate"]

log = structlog.get_logger(logger_name="polyad.security")


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    access = request.app[ACCESS]
    scope = access.required_scope(request.method, route_template(request))
    if scope is not None:
        request[REQUIRED_SCOPE] = scope
    if not access.enabled:
        # Auth off is allowed on a loopback bind only; this holds however the app is served.
        if not is_local_peer(request.remote):
            raise Forbidden("authentication is disabled, so this agent serves this machine only")
        return await handler(request)
    if scope is None:
        return await handler(request)
    token = bearer_token(request.headers.get(hdrs.AUTHORIZATION))
    if token is None:
        raise Unauthorized("this endpoint needs an Authorization: Bearer token")
    try:
        identity = await access.identify(token)
    except InvalidToken as error:
        log.info("token rejected", reason=str(error))
        raise Unauthorized("the bearer token is not valid") from None
    structlog.contextvars.bind_contextvars(subject=identity.subject)
    if scope not in identity.scopes:
        raise InsufficientScope(scope)
    request[IDENTITY] = identity
    return await handler(request)
