"""HTTP server duration histogram (its count is the request count) by route, method, status."""

from __future__ import annotations

import time

from aiohttp import web

from polyad.api.keys import TELEMETRY

__all__ = ["record_duration"]

_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


def record_duration(request: web.Request, route: str | None, status: int,
                    started_s: float) -> None:
    attributes: dict[str, str | int] = {
        "http.request.method": request.method if request.method in _KNOWN_METHODS else "_OTHER",
        "http.response.status_code": status,
    }
    if route is not None:
        attributes["http.route"] = route
    request.app[TELEMETRY].http_server_duration.record(time.perf_counter() - started_s,
                                                       attributes)
