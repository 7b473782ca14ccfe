"""Every piece of app state, under a typed key, declared in this one place."""

from __future__ import annotations

from aiohttp import web

from polyad.api.render import JsonViews
from polyad.config import Config
from polyad.sampler import Sampler
from polyad.security.access import Access
from polyad.security.tokens import Identity
from polyad.telemetry import Telemetry

__all__ = ["ACCESS", "CONFIG", "IDENTITY", "JSON_VIEWS", "OPENAPI_BODY", "SAMPLER", "TELEMETRY"]

CONFIG = web.AppKey("config", Config)
SAMPLER = web.AppKey("sampler", Sampler)
TELEMETRY = web.AppKey("telemetry", Telemetry)
JSON_VIEWS = web.AppKey("json_views", JsonViews)
OPENAPI_BODY = web.AppKey("openapi_body", bytes)
ACCESS = web.AppKey("access", Access)

# per request: who the bearer of the token is (absent when auth is disabled)
IDENTITY = web.RequestKey("identity", Identity)
