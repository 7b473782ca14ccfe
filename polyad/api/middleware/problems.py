"""Every error becomes problem+json here, and no stack trace ever reaches a client."""

from __future__ import annotations

import time
from http import HTTPStatus

import structlog
from aiohttp import hdrs, web
from aiohttp.http_exceptions import (
    BadHttpMessage,
    BadHttpMethod,
    BadStatusLine,
    InvalidHeader,
    LineTooLong,
    PayloadEncodingError,
)

from polyad.api.keys import CONFIG
from polyad.api.middleware.http_metrics import record_duration
from polyad.api.middleware.request_context import (
    REQUEST_ID_HEADER,
    bind_request_id,
    log_access,
    request_id_of,
)
from polyad.api.middleware.route import route_template
from polyad.api.problems import problem_response
from polyad.errors import PolyadError, ValidationError

__all__ = ["answer_early", "error_response", "unparsed_request_response"]

log = structlog.get_logger(logger_name="polyad.api")

# Headers of aiohttp's own HTTP errors worth keeping (e.g. Allow on a 405).
_KEPT_HEADERS = (hdrs.ALLOW, hdrs.RETRY_AFTER, hdrs.WWW_AUTHENTICATE)
_SLUGS = {400: "bad-request", 404: "not-found", 405: "method-not-allowed",
          413: "payload-too-large", 415: "unsupported-media-type"}
_INTERNAL = "the agent hit an unexpected error; the log has the details"
# What was wrong with a request aiohttp's parser refused, in fixed words: its own messages
# quote the offending bytes, which may be anyone's headers (a token among them).
_PARSE_ERRORS: tuple[tuple[type[BadHttpMessage], str], ...] = (
    (LineTooLong, "the request line or a header is longer than the agent accepts"),
    (BadHttpMethod, "the request line does not start with an HTTP method"),
    (BadStatusLine, "the request line is malformed"),
    (InvalidHeader, "a header is malformed"),
    (PayloadEncodingError, "the body's framing (Content-Length or Transfer-Encoding) is "
                           "malformed"),
)


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
    return problem_response(500, "Internal Server Error", _INTERNAL, slug="internal",
                            instance=request.path)


def answer_early(request: web.Request, error: PolyadError) -> web.Response:
    """The answer to a request refused before the middleware ran (aiohttp checks `Expect:`
    first), with the request id, metrics and access-log line the pipeline would have given."""
    started_s = time.perf_counter()
    request_id = request_id_of(request)
    bind_request_id(request_id)
    response = error_response(request, error)
    response.headers[REQUEST_ID_HEADER] = request_id
    route = route_template(request)
    record_duration(request, route, response.status, started_s)
    if request.app[CONFIG].logging.logs_requests:
        log_access(request, route, response.status, started_s)
    return response


def _describe_unparsed(status: int, error: BaseException | None) -> str:
    if status == 500:
        return _INTERNAL
    for kind, detail in _PARSE_ERRORS:
        if isinstance(error, kind):
            return detail
    if isinstance(error, BadHttpMessage):
        return "the request is not valid HTTP/1.1"
    return HTTPStatus(status).description


def unparsed_request_response(request: web.BaseRequest, status: int,
                              error: BaseException | None) -> web.Response:
    """aiohttp's own error answer (a request its parser refused, or an error that escaped the
    app), as problem+json without a word of the request in it (see api/protocol.py)."""
    request_id = request_id_of(request)
    bind_request_id(request_id)
    if status == 500:
        log.error("unhandled error", exc_info=error)
    elif isinstance(error, BadHttpMethod):  # not HTTP at all (TLS to this port, a scanner)
        log.debug("rejected a request that is not HTTP")
    else:
        log.warning("rejected a malformed HTTP request", status=status,
                    error=type(error).__name__ if error else None)
    phrase = HTTPStatus(status).phrase
    return problem_response(status, phrase, _describe_unparsed(status, error),
                            slug=_SLUGS.get(status, "internal" if status == 500 else str(status)),
                            headers={REQUEST_ID_HEADER: request_id})
