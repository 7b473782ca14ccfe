"""HTTP server duration histogram (its count is the request count) by route, method, status."""

from __future__ import annotations

import time

from aiohttp import web

from polyad.api.keys import TELEMETRY

__all__ = ["record_duration"]


def record_duration(request: web.Request, route: str | None, status: int,
                    started_s: float) -> None:
    request.app[TELEMETRY].http_server_duration.record(time.perf_counter() - started_s, route,
                                                       request.method, status)
