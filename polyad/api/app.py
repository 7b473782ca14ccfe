"""The aiohttp application factory: a table of contents of `setup_*` calls."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp_cors
import orjson
from aiohttp import hdrs, web
from opentelemetry.metrics import Observation

from polyad.alerts.engine import Alert
from polyad.alerts.engine import Event as AlertEvent
from polyad.alerts.service import Alerting
from polyad.api.console_views import setup_console
from polyad.api.keys import (
    ACCESS,
    ALERTING,
    CACHE,
    CONFIG,
    EVENTS,
    HEALTH,
    HISTORY,
    JSON_VIEWS,
    OPENAPI_BODY,
    RATE_LIMITER,
    REDIS,
    SAMPLER,
    TASKS,
    TELEMETRY,
    TLS,
)
from polyad.api.middleware import MIDDLEWARES
from polyad.api.openapi import build_openapi
from polyad.api.protocol import name_the_server
from polyad.api.routes import ROUTES, add_routes
from polyad.background import stop_tasks
from polyad.cache import build_cache, register_instruments, run_upkeep
from polyad.collectors import Collector, build_collectors
from polyad.config import Config, load_config
from polyad.errors import ConfigError, ValidationError
from polyad.events import EventHub
from polyad.health import HealthBoard
from polyad.history import History
from polyad.sampler import Sampler
from polyad.security.access import Access
from polyad.security.ratelimit import RateLimiter
from polyad.security.setup import build_verifier
from polyad.snapshot import Snapshot
from polyad.tasks.builtin import BUILTIN_HANDLERS
from polyad.tasks.manager import TaskManager, build_keys, build_store
from polyad.tasks.model import TaskRecord
from polyad.tasks.registry import HandlerRegistry
from polyad.telemetry import Telemetry, request_durations
from polyad.tls import ServerTls
from polyad.views.live import alert_event, task_event, tick_event
from polyad.views.render import JsonViews

__all__ = ["create_app"]


def create_app(
    config: Config | None = None, *, collectors: Sequence[Collector[Any]] | None = None
) -> web.Application:
    """The agent as an aiohttp app; `app.run(host=…, port=…)` serves it, as the seed shows.

    `collectors` replaces the configured ones (tests hand in collectors over fake sources).
    """
    if config is None:  # the seed's script form: a start-up problem ends it in one clear line
        return _create_app_or_exit(collectors)
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=config.server.max_body)
    app[CONFIG] = config
    app[HEALTH] = HealthBoard()
    setup_tls(app, config)
    setup_sampler(app, config, collectors)
    setup_history(app, config)
    setup_redis(app, config)
    setup_security(app, config)
    setup_telemetry(app, config)
    setup_cache(app, config)
    setup_tasks(app, config)
    setup_alerting(app, config)
    setup_reloads(app)
    setup_events(app, config)
    setup_views(app, config)
    add_routes(app)
    if config.console.enabled:
        setup_console(app)
    setup_cors(app, config)
    app.on_response_prepare.append(name_the_server)
    # aiohttp discourages subclassing Application, so the seed's `app.run` is a bound helper
    # on the instance (set past aiohttp's debug-mode attribute check on purpose).
    object.__setattr__(app, "run", lambda host=None, port=None: _serve(app, host, port))
    return app


def _create_app_or_exit(collectors: Sequence[Collector[Any]] | None) -> web.Application:
    # The seed's script form, `create_app()` with no argument, reads files and environment:
    # a bad value there ends the script with one clear line, as `polyad serve` does.
    # polyad/server.py runs the app, a layer above this factory: imported here, not at the
    # top, so that no module of api/ imports what sits above it.
    from polyad.server import exit_on_start_failure

    try:
        config = load_config()
    except ConfigError as error:
        exit_on_start_failure(error.detail)
    try:
        return create_app(config, collectors=collectors)
    except ConfigError as error:
        exit_on_start_failure(error.detail, config.logging)


def _serve(app: web.Application, host: str | None, port: int | None) -> None:
    from polyad.server import serve_or_exit  # a layer above; see _create_app_or_exit

    serve_or_exit(app, host, port)


def setup_sampler(
    app: web.Application, config: Config, collectors: Sequence[Collector[Any]] | None
) -> None:
    if collectors is None:
        collectors = build_collectors(config.collectors, config.host)
    app[SAMPLER] = Sampler(collectors, config.sampler.interval, config.sampler.collector_timeout_s)
    app.cleanup_ctx.append(_run_sampler)


async def _run_sampler(app: web.Application) -> AsyncIterator[None]:
    sampler = app[SAMPLER]
    sampler.start()
    # Serve only once there is a first sample; collectors are time-boxed, so this is bounded.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(sampler.first_snapshot.wait(), sampler.interval_s + 5.0)
    yield
    await sampler.stop()
    sampler.close()


def setup_history(app: web.Application, config: Config) -> None:
    if not config.history.enabled:
        return
    history = History(config.sampler.interval, config.history.retention,
                      config.history.long_retention, config.history.max_series)
    app[HISTORY] = history
    app[SAMPLER].listeners.append(history.record)


def setup_events(app: web.Application, config: Config) -> None:
    """The live stream's sources: each tick, each alert change, each task state. A payload is
    made only while a stream is open."""
    hub = app[EVENTS] = EventHub(config.events.max_clients)

    def tick(snapshot: Snapshot) -> None:
        if hub.clients:
            hub.publish("tick", tick_event(snapshot))

    def alert(event: AlertEvent, changed: Alert) -> None:
        if hub.clients and event != "firing_still":   # a reminder is no change
            hub.publish("alert", alert_event(event, changed))

    def task(record: TaskRecord) -> None:
        if hub.clients:
            hub.publish("task", task_event(record))

    app[SAMPLER].listeners.append(tick)
    if ALERTING in app:
        app[ALERTING].listeners.append(alert)
    app[TASKS].listeners.append(task)
    app[TELEMETRY].meter.create_observable_counter(
        "polyad.events.dropped", [lambda _: [Observation(hub.dropped)]], unit="{event}",
        description="Events a slow /events stream did not get")
    app.on_shutdown.append(_end_event_streams)


async def _end_event_streams(app: web.Application) -> None:
    app[EVENTS].close()


def uses_redis(config: Config) -> bool:
    return "redis" in (config.cache.backend, config.tasks.backend,
                       config.rate_limit.storage if config.rate_limit.enabled else None)


def setup_redis(app: web.Application, config: Config) -> None:
    """The agent's one Redis client and outage state, for every part that uses Redis; none
    (and redis-py not even loaded) when no part does."""
    if not uses_redis(config):
        return
    from polyad.redis_link import RedisLink

    app[REDIS] = RedisLink(config.redis, app[HEALTH], timeout_s=config.redis_timeout_s)
    app.cleanup_ctx.append(_run_redis)


async def _run_redis(app: web.Application) -> AsyncIterator[None]:
    """Entered before the parts that use it start, left after they stop."""
    link = app[REDIS]
    await link.ping()          # /status is true from the first request on
    watch = asyncio.create_task(link.watch(), name="polyad-redis-watch")
    yield
    await stop_tasks([watch])
    await link.close()


def setup_security(app: web.Application, config: Config) -> None:
    scopes = [(route.method, route.path, route.scope) for route in ROUTES]
    app[ACCESS] = Access(build_verifier(config), scopes, config.auth.client_cert_scopes)
    if config.rate_limit.enabled:
        app[RATE_LIMITER] = RateLimiter(config.rate_limit, app[HEALTH], app.get(REDIS))


def setup_cors(app: web.Application, config: Config) -> None:
    """Cross-origin access for the allowed origins only; none allowed, no CORS headers at all."""
    if not config.cors.allow_origins:
        return
    options = aiohttp_cors.ResourceOptions(  # type: ignore[no-untyped-call]
        allow_headers=("Authorization", "Content-Type", "X-Request-ID"),
        expose_headers=("X-Request-ID", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining",
                        "RateLimit-Reset", "Location"),
        max_age=600,
    )
    cors = aiohttp_cors.setup(app, defaults=dict.fromkeys(config.cors.allow_origins, options))
    for route in list(app.router.routes()):
        if route.method != "HEAD":  # aiohttp-cors answers HEAD along with its GET
            cors.add(route)
    app.on_response_prepare.append(_vary_by_origin)


async def _vary_by_origin(_: web.Request, response: web.StreamResponse) -> None:
    """With CORS on, a response's headers depend on the request's Origin (allowed, another, or
    none): a shared cache must not hand one origin's copy to another."""
    vary = response.headers.get(hdrs.VARY, "")
    named = {name.strip().lower() for name in vary.split(",")}
    if "origin" not in named and "*" not in named:
        response.headers[hdrs.VARY] = f"{vary}, Origin" if vary else "Origin"


def setup_telemetry(app: web.Application, config: Config) -> None:
    """The instruments, read by the Prometheus exposition and, with telemetry.otlp.endpoint,
    pushed over OTLP as well (the exporter imported only then)."""
    sampler = app[SAMPLER]
    otlp = config.telemetry.otlp
    if otlp.endpoint is None:
        app[TELEMETRY] = Telemetry(lambda: sampler.snapshot)
    else:
        from polyad.otlp import otlp_reader, resource

        durations = request_durations()
        reader, exporter = otlp_reader(otlp, app[HEALTH], durations)
        app[TELEMETRY] = Telemetry(lambda: sampler.snapshot, readers=[reader],
                                   resource=resource(config.alerts.instance),
                                   durations=durations)
        app[TELEMETRY].meter.create_observable_counter(
            "polyad.otlp.export.failures", [lambda _: [Observation(exporter.failures)]],
            unit="{export}", description="OTLP exports that failed (down, refused, timed out)")
    app.cleanup_ctx.append(_shutdown_telemetry)


async def _shutdown_telemetry(app: web.Application) -> AsyncIterator[None]:
    yield
    # the OTLP push's final export is bounded by its timeout: waited for a little, in a thread
    telemetry, loop = app[TELEMETRY], asyncio.get_running_loop()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(loop.run_in_executor(None, telemetry.shutdown, 2.0), 3.0)


def setup_cache(app: web.Application, config: Config) -> None:
    app[CACHE] = build_cache(config, app[HEALTH], app.get(REDIS))
    register_instruments(app[TELEMETRY].meter, app[CACHE])
    app.cleanup_ctx.append(_run_cache)


async def _run_cache(app: web.Application) -> AsyncIterator[None]:
    sweeper = asyncio.create_task(run_upkeep(app[CACHE], app[CONFIG].cache.cleanup_interval),
                                  name="polyad-cache-upkeep")
    yield
    await stop_tasks([sweeper])
    await app[CACHE].close()


def setup_tasks(app: web.Application, config: Config) -> None:
    sampler = app[SAMPLER]
    registry = HandlerRegistry.of(BUILTIN_HANDLERS)
    app[TASKS] = TaskManager(config.tasks, registry, lambda: sampler.snapshot,
                             app[TELEMETRY].meter,
                             build_store(config, app[HEALTH], app.get(REDIS)),
                             app[CACHE], build_keys(config, app.get(REDIS)))
    app.cleanup_ctx.append(_run_tasks)


async def _run_tasks(app: web.Application) -> AsyncIterator[None]:
    await app[TASKS].start()
    yield
    await app[TASKS].stop()


def setup_alerting(app: web.Application, config: Config) -> None:
    if not config.alerts.enabled:
        return
    sampler = app[SAMPLER]
    app[ALERTING] = Alerting(config, lambda: sampler.snapshot, app[HEALTH],
                             app[TELEMETRY].meter)
    app.cleanup_ctx.append(_run_alerting)


async def _run_alerting(app: web.Application) -> AsyncIterator[None]:
    alerting = app[ALERTING]
    await alerting.start()
    yield
    await alerting.stop()


def setup_tls(app: web.Application, config: Config) -> None:
    """HTTPS on the agent's port: the context `start_serving` listens with, its certificate
    re-read when the files change (and on SIGHUP, see `setup_reloads`). A key others can read,
    or a pair that does not load, is a ConfigError: the agent does not start."""
    if not config.server.tls.enabled:
        return
    app[TLS] = ServerTls(config.server.tls)
    app.cleanup_ctx.append(_run_tls)


async def _run_tls(app: web.Application) -> AsyncIterator[None]:
    watch = asyncio.create_task(app[TLS].watch(), name="polyad-tls-watch")
    yield
    await stop_tasks([watch])


def setup_reloads(app: web.Application) -> None:
    """SIGHUP reads again what can change without a restart, as it does for Prometheus: the
    alert rules and the TLS certificate."""
    app.cleanup_ctx.append(_run_reloads)


async def _run_reloads(app: web.Application) -> AsyncIterator[None]:
    on_sighup = _reload_on_sighup(app)
    yield
    if on_sighup:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)


def _reload_on_sighup(app: web.Application) -> bool:
    """Only the main thread's loop can take signals (an embedding application may run the app
    elsewhere): False then."""
    reloads: set[asyncio.Task[Any]] = set()

    def reload() -> None:
        if TLS in app:
            app[TLS].reload()
        if ALERTING in app:
            task = asyncio.create_task(_reload_logged(app[ALERTING]))
            reloads.add(task)
            task.add_done_callback(reloads.discard)

    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)
    except (NotImplementedError, RuntimeError, ValueError):
        return False
    return True


async def _reload_logged(alerting: Alerting) -> None:
    with contextlib.suppress(ValidationError):  # logged and shown on /status by reload()
        await alerting.reload()


def setup_views(app: web.Application, config: Config) -> None:
    app[JSON_VIEWS] = JsonViews(config, app[HEALTH], app[CACHE])
    app[OPENAPI_BODY] = orjson.dumps(build_openapi(handlers=app[TASKS].handlers()))
