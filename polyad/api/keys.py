"""Every piece of app state, under a typed key, declared in this one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from polyad.alerts.service import Alerting
from polyad.cache import Cache
from polyad.config import Config
from polyad.console import ConsoleFile
from polyad.events import EventHub
from polyad.health import HealthBoard
from polyad.history import History
from polyad.sampler import Sampler
from polyad.security.access import Access
from polyad.security.ratelimit import RateLimiter
from polyad.security.tokens import Identity
from polyad.tasks.manager import TaskManager
from polyad.telemetry import Telemetry
from polyad.tls import ServerTls
from polyad.views.render import JsonViews

if TYPE_CHECKING:  # redis-py is loaded only when a part uses Redis
    from polyad.redis_link import RedisLink

__all__ = ["ACCESS", "ALERTING", "CACHE", "CONFIG", "CONSOLE_FILES", "EVENTS", "HEALTH",
           "HISTORY", "IDENTITY", "JSON_VIEWS", "OPENAPI_BODY", "RATE_LIMITER", "REDIS",
           "SAMPLER", "TASKS", "TELEMETRY", "TLS"]

CONFIG = web.AppKey("config", Config)
SAMPLER = web.AppKey("sampler", Sampler)
TELEMETRY = web.AppKey("telemetry", Telemetry)
JSON_VIEWS = web.AppKey("json_views", JsonViews)
OPENAPI_BODY = web.AppKey("openapi_body", bytes)
ACCESS = web.AppKey("access", Access)
HEALTH = web.AppKey("health", HealthBoard)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)  # absent when rate limits are off
TASKS = web.AppKey("tasks", TaskManager)
CACHE = web.AppKey("cache", Cache)
ALERTING = web.AppKey("alerting", Alerting)  # absent when alerting is off
HISTORY = web.AppKey("history", History)  # absent when history is off
EVENTS = web.AppKey("events", EventHub)
TLS = web.AppKey("tls", ServerTls)  # absent unless server.tls is set
# absent unless a part uses Redis (cache.backend, rate_limit.storage or tasks.backend redis)
REDIS: web.AppKey[RedisLink] = web.AppKey("redis")
CONSOLE_FILES = web.AppKey("console_files", dict[str, ConsoleFile])  # absent when it is off

# per request: who the bearer of the token is (absent when auth is disabled)
IDENTITY = web.RequestKey("identity", Identity)
