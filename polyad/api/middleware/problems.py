"""Every error becomes problem+json here, and no stack trace ever reaches a client."""

from __future__ import annotations

import structlog
from aiohttp import hdrs, web

from polyad.api.keys import CONFIG
from polyad.api.problems import problem_response
from polyad.errors import PolyadError, ValidationError

__all__ = ["error_response"]

log = structlog.get_logger(logger_name="polyad.api")

# Headers of aiohttp's own HTTP errors worth keeping (e.g. Allow on a 405).
_KEPT_HEADERS = (hdrs.ALLOW, hdrs.RETRY_AFTER, hdrs.WWW_AUTHENTICATE)
_SLUGS = {400: "bad-request", 404: "not-found", 405: "method-not-allowed",
          413: "payload-too-large", 415: "unsupported-media-type"}


def _from_http_error(request: web.Request, error: web.HTTPException) -> web.Response:
    detail = {
        404: f"no resource at {request.path}",
        405: f"{request.method} is not allowed on {request.path}",
        413: f"request body is larger than {request.app[CONFIG].server.max_body} bytes",
    }.get(error.status, error.reason)
    headers = {str(name): error.headers[name] for name in _KEPT_HEADERS if name in error.headers}
    return problem_response(error.status, error.reason, detail,
                            slug=_SLUGS.get(error.status, str(error.status)),
                            instance=request.path, headers=headers)


def error_response(request: web.Request, error: Exception) -> web.Response:
    """The problem+json answer to an error a request ran into; an unexpected one is logged
    with its stack trace, and the client is told only that it happened."""
    if isinstance(error, web.HTTPException):
        return _from_http_error(request, error)
    if isinstance(error, PolyadError):
        return problem_response(
            error.status, error.title, error.detail, slug=error.slug, instance=request.path,
            errors=error.errors if isinstance(error, ValidationError) else None,
            headers=error.headers,
        )
    log.exception("unhandled error", path=request.path)
    return problem_response(500, "Internal Server Error",
                            "the agent hit an unexpected error; the log has the details",
                            slug="internal", instance=request.path)
