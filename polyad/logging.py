"""structlog set-up: one JSON line per event (orjson), or readable lines for a terminal."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import structlog

__all__ = ["configure_logging"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


def _dumps(event: Any, **_: Any) -> bytes:
    return orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS, default=str)


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    """Route structlog to stderr; the process has one log stream, so this is process-wide."""
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    if fmt == "json":
        processors: list[structlog.typing.Processor] = [
            *shared, structlog.processors.JSONRenderer(serializer=_dumps)]
        factory: Any = structlog.BytesLoggerFactory(sys.stderr.buffer)
    else:
        processors = [*shared, structlog.dev.ConsoleRenderer(colors=False)]
        factory = structlog.PrintLoggerFactory(sys.stderr)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )

