"""The request handlers: each reads app state and the newest Snapshot, never the host itself."""

from __future__ import annotations

import structlog
from aiohttp import hdrs, web

from polyad.api.keys import CACHE, JSON_VIEWS, OPENAPI_BODY, SAMPLER, TELEMETRY
from polyad.api.responses import json_response
from polyad.errors import NotReady
from polyad.negotiation import wants_exposition
from polyad.snapshot import Snapshot
from polyad.views.records import cache_stats_view
from polyad.views.schemas import CacheCleared, Health, Readiness

__all__ = [
    "cache_stats",
    "clear_cache",
    "healthz",
    "metrics",
    "openapi",
    "prometheus",
    "readyz",
    "status",
]

log = structlog.get_logger(logger_name="polyad")

# /metrics and /metrics/prom choose their body by Accept (JSON or exposition, which format):
# a shared cache must keep one copy per Accept.
_VARY_BY_ACCEPT: dict[str, str] = {hdrs.VARY: "Accept"}


def _snapshot(request: web.Request) -> Snapshot:
    snapshot = request.app[SAMPLER].snapshot
    if snapshot is None:
        raise NotReady("the first sample of the host has not been taken yet")
    return snapshot


async def status(request: web.Request) -> web.Response:
    return json_response(request.app[JSON_VIEWS].status(_snapshot(request)))


async def metrics(request: web.Request) -> web.Response:
    """The seed's JSON, or the exposition when the Accept header prefers it: Prometheus 3
    scrapes /metrics by default and refuses a JSON answer."""
    if wants_exposition(request.headers.get(hdrs.ACCEPT, "")):
        return _exposition(request)
    return json_response(request.app[JSON_VIEWS].metrics(_snapshot(request)),
                         headers=_VARY_BY_ACCEPT)


async def prometheus(request: web.Request) -> web.Response:
    return _exposition(request)


def _exposition(request: web.Request) -> web.Response:
    _snapshot(request)
    body, content_type = request.app[TELEMETRY].render(request.headers.get(hdrs.ACCEPT, ""))
    # content_type carries parameters (version, charset), so it goes in as a raw header.
    return web.Response(body=body, headers={hdrs.CONTENT_TYPE: content_type, **_VARY_BY_ACCEPT})


async def healthz(_: web.Request) -> web.Response:
    return json_response(Health(status="ok"))


async def readyz(request: web.Request) -> web.Response:
    sampler = request.app[SAMPLER]
    snapshot = sampler.snapshot
    age_s = sampler.snapshot_age_s()
    if snapshot is None or age_s is None:
        readiness = Readiness(status="not ready", detail="no sample taken yet",
                              snapshot_age_seconds=None)
    elif sampler.is_stale():
        readiness = Readiness(status="not ready", detail="the sampler has stopped ticking",
                              snapshot_age_seconds=round(age_s, 3))
    else:
        readiness = Readiness(status="ready", snapshot_age_seconds=round(age_s, 3))
    ready = readiness.status == "ready"
    return json_response(readiness, 200 if ready else 503,
                         None if ready else {hdrs.RETRY_AFTER: "1"})


async def openapi(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI_BODY])


async def cache_stats(request: web.Request) -> web.Response:
    return json_response(cache_stats_view(await request.app[CACHE].stats()))


async def clear_cache(request: web.Request) -> web.Response:
    cleared = await request.app[CACHE].clear()
    log.info("cache cleared", entries=cleared)
    return json_response(CacheCleared(cleared=cleared))

