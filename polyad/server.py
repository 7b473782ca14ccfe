"""Running the app as a process: the bind check, logging set up, serving until a signal, and a
failed start told in one line (exit status 2). `polyad serve` and the seed's `app.run` use it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import NoReturn

import structlog
from aiohttp import web

from polyad.api.keys import CONFIG
from polyad.api.protocol import run_until_stopped
from polyad.config import Config, LoggingConfig, is_loopback
from polyad.errors import ConfigError
from polyad.logging import configure_logging

__all__ = ["check_bind_address", "event_loop_factory", "exit_on_start_failure", "serve",
           "serve_or_exit"]

log = structlog.get_logger(logger_name="polyad")


def check_bind_address(host: str, config: Config) -> None:
    if not config.auth.enabled and not is_loopback(host):
        raise ConfigError(
            f"server.host = {host!r}: refusing to listen on a non-loopback address with "
            "auth.enabled = false; enable auth or listen on 127.0.0.1 or ::1"
        )


def serve(app: web.Application, host: str | None = None, port: int | None = None) -> None:
    """Serve until interrupted; the process-wide log set-up happens here, not in create_app."""
    config = app[CONFIG]
    host = host or config.server.host
    port = config.server.port if port is None else port
    check_bind_address(host, config)
    configure_logging(config.logging.level, config.logging.format)
    url = config.server.url(host, port)
    loop_factory = event_loop_factory(config.server.event_loop)
    log.info("polyad starting", url=url, interval_s=config.sampler.interval,
             event_loop=config.server.event_loop)
    # Not web.run_app: it cannot take the agent's runner (api/protocol.py says why it has one).
    # KeyboardInterrupt: a Ctrl-C before the signal handlers are set.
    with contextlib.suppress(KeyboardInterrupt), \
            asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(run_until_stopped(app, host, port,
                                     lambda: log.info("polyad listening", url=url)))


def event_loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """None: asyncio's own loop. uvloop is imported only when chosen; missing, it is a
    configuration error that says how to get it."""
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        raise ConfigError("server.event_loop = 'uvloop' needs uvloop: pip install "
                          "'polyad[fast]'") from None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def serve_or_exit(app: web.Application, host: str | None = None, port: int | None = None) -> None:
    """`serve`, with a start-up failure told in one log line and exit status 2, no traceback."""
    logging_config = app[CONFIG].logging
    try:
        serve(app, host, port)
    except ConfigError as error:
        exit_on_start_failure(error.detail, logging_config)
    except OSError as error:  # e.g. the port is taken
        exit_on_start_failure(f"cannot listen: {error.strerror or error}", logging_config)


def exit_on_start_failure(reason: str, logging: LoggingConfig | None = None) -> NoReturn:
    if logging is None:
        configure_logging()
    else:
        configure_logging(logging.level, logging.format)
    log.error("cannot start", error=reason)
    raise SystemExit(2)
