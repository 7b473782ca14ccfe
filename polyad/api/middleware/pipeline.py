"""The one middleware: request id and log context → authentication → rate limits (per
identity, so after authentication) → scopes (after the count, so a token lacking the scope
still runs into 429) → the view; any error becomes problem+json; then the request id header,
the HTTP duration histogram and the access-log line.

One middleware, not one per step: the order lives in one place, and the route is looked up
once. (Measured alone, the merge from five middlewares was within noise: 285 against 287 µs of
CPU per GET /status on a slow host. The savings came from what the steps stopped doing.)
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from polyad.api.keys import ACCESS, CONFIG
from polyad.api.middleware.auth import authenticate, authorize
from polyad.api.middleware.http_metrics import record_duration
from polyad.api.middleware.problems import error_response
from polyad.api.middleware.rate_limit import enforce_rate_limit
from polyad.api.middleware.request_context import (
    REQUEST_ID_HEADER,
    bind_request_id,
    log_access,
    request_id_of,
)
from polyad.api.middleware.route import route_template

__all__ = ["serve_request"]


@web.middleware
async def serve_request(request: web.Request, handler: Handler) -> web.StreamResponse:
    started_s = time.perf_counter()
    request_id = request_id_of(request)
    bind_request_id(request_id)
    route = route_template(request)
    response: web.StreamResponse
    try:
        scope = request.app[ACCESS].required_scope(request.method, route)
        identity = await authenticate(request, scope)
        await enforce_rate_limit(request, scope, identity)
        authorize(request, identity, scope)
        response = await handler(request)
    except web.HTTPException as error:
        if error.status < 400:  # a redirect is an answer, not an error
            raise
        response = error_response(request, error)
    except asyncio.CancelledError:
        raise
    except Exception as error:
        response = error_response(request, error)
    response.headers[REQUEST_ID_HEADER] = request_id
    record_duration(request, route, response.status, started_s)
    if request.app[CONFIG].logging.logs_requests:
        log_access(request, route, response.status, started_s)
    return response
