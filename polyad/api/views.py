"""The request handlers: each reads app state and the newest Snapshot, never the host itself."""

from __future__ import annotations

from aiohttp import hdrs, web

from polyad.api.keys import JSON_VIEWS, OPENAPI_BODY, SAMPLER, TELEMETRY
from polyad.api.schemas import Health, Readiness
from polyad.errors import NotImplementedYet, NotReady
from polyad.snapshot import Snapshot

__all__ = [
    "cache_stats",
    "healthz",
    "metrics",
    "openapi",
    "prometheus",
    "readyz",
    "status",
]

JSON = "application/json"


def _snapshot(request: web.Request) -> Snapshot:
    snapshot = request.app[SAMPLER].snapshot
    if snapshot is None:
        raise NotReady("the first sample of the host has not been taken yet")
    return snapshot


async def status(request: web.Request) -> web.Response:
    body = request.app[JSON_VIEWS].status(_snapshot(request))
    return web.Response(body=body, content_type=JSON)


async def metrics(request: web.Request) -> web.Response:
    body = request.app[JSON_VIEWS].metrics(_snapshot(request))
    return web.Response(body=body, content_type=JSON)


async def prometheus(request: web.Request) -> web.Response:
    _snapshot(request)
    body, content_type = request.app[TELEMETRY].render(request.headers.get(hdrs.ACCEPT, ""))
    # content_type carries parameters (version, charset), so it goes in as a raw header.
    return web.Response(body=body, headers={hdrs.CONTENT_TYPE: content_type})


async def healthz(_: web.Request) -> web.Response:
    return web.Response(body=Health(status="ok").model_dump_json().encode(), content_type=JSON)


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
    return web.Response(
        status=200 if ready else 503,
        body=readiness.model_dump_json().encode(),
        content_type=JSON,
        headers=None if ready else {hdrs.RETRY_AFTER: "1"},
    )


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_BODY], content_type=JSON)


async def cache_stats(_: web.Request) -> web.Response:
    raise NotImplementedYet("the cache is not built yet; GET /cache arrives with it")

