"""HTTP server duration histogram (its count is the request count) by route, method, status."""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.typedefs import Handler

from polyad.api.keys import TELEMETRY
from polyad.api.middleware.route import route_template

__all__ = ["http_metrics"]

_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


@web.middleware
async def http_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    response = await handler(request)
    attributes: dict[str, str | int] = {
        "http.request.method": request.method if request.method in _KNOWN_METHODS else "_OTHER",
        "http.response.status_code": response.status,
    }
    route = route_template(request)
    if route is not None:
        attributes["http.route"] = route
    request.app[TELEMETRY].http_server_duration.record(time.perf_counter() - started, attributes)
    return response
