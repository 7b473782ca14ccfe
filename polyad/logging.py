"""structlog set-up: one JSON line per event (orjson), or readable lines for a terminal.

Libraries that log through the standard library (aiohttp, asyncio, OpenTelemetry) go through the
same renderer, so the stream stays one JSON object per line.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import structlog
from aiohttp.http_exceptions import BadHttpMessage
from structlog.typing import EventDict, Processor

from polyad.security.redaction import redact_secrets

__all__ = ["configure_logging"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


def _dumps(event: Any, **_: Any) -> bytes:
    return orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS, default=str)


def _decode(_: Any, __: str, rendered: Any) -> Any:
    # ProcessorFormatter hands its result to a text stream.
    return rendered.decode() if isinstance(rendered, bytes) else rendered


def _stdlib_logger_name(_: Any, __: str, event: EventDict) -> EventDict:
    record = event.get("_record")
    if record is not None:
        event["logger_name"] = record.name
    return event


def _quiet_parser_errors(record: logging.LogRecord) -> bool:
    """aiohttp logs each request its parser rejects at error level with a traceback whose text
    echoes the raw request bytes: an unauthenticated client could fill the log, and the bytes
    may hold credentials. Keep one warning line, without the traceback."""
    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, BadHttpMessage):
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg, record.args = "rejected a malformed HTTP request: %s", (type(error).__name__,)
    return True


def _renderer(fmt: str) -> Processor:
    if fmt == "json":
        return structlog.processors.JSONRenderer(serializer=_dumps)
    return structlog.dev.ConsoleRenderer(colors=False)


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    """Route structlog and stdlib logging to stderr; the process has one log stream."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # Last before rendering, after exceptions become text: nothing escapes the redaction.
    finishing: list[Processor] = [structlog.processors.format_exc_info, redact_secrets,
                                  _renderer(fmt)]
    if fmt == "json":
        factory: Any = structlog.BytesLoggerFactory(sys.stderr.buffer)
    else:
        factory = structlog.PrintLoggerFactory(sys.stderr)
    structlog.configure(
        processors=[*shared, *finishing],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, _stdlib_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *finishing,
                    _decode],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(_LEVELS[level])
    logging.captureWarnings(True)  # Python warnings join the stream too
    server_log = logging.getLogger("aiohttp.server")
    if _quiet_parser_errors not in server_log.filters:
        server_log.addFilter(_quiet_parser_errors)
