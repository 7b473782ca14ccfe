"""One exception hierarchy; the API maps each class to a problem+json status in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

__all__ = [
    "BadRequest",
    "ConfigError",
    "Conflict",
    "ExpectationFailed",
    "Forbidden",
    "InsufficientScope",
    "NotFound",
    "NotReady",
    "PayloadTooLarge",
    "PolyadError",
    "RequestTimeout",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
    "ValidationError",
]


class PolyadError(Exception):
    """Base of every error polyad raises on purpose; `status` is the HTTP status it maps to."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"
    slug: ClassVar[str] = "internal"

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})


class ConfigError(PolyadError):
    """A configuration value is wrong; raised at start, never while serving."""

    slug = "config"


class BadRequest(PolyadError):
    status = 400
    title = "Bad Request"
    slug = "bad-request"


class RequestTimeout(PolyadError):
    status = 408
    title = "Request Timeout"
    slug = "request-timeout"


class PayloadTooLarge(PolyadError):
    status = 413
    title = "Request Entity Too Large"  # as aiohttp titles its own 413
    slug = "payload-too-large"


class ExpectationFailed(PolyadError):
    status = 417
    title = "Expectation Failed"
    slug = "expectation-failed"


class UnsupportedMediaType(PolyadError):
    status = 415
    title = "Unsupported Media Type"
    slug = "unsupported-media-type"


class ValidationError(PolyadError):
    status = 422
    title = "Unprocessable Content"
    slug = "validation"

    def __init__(self, detail: str, *, errors: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(detail)
        self.errors = list(errors)


class Unauthorized(PolyadError):
    status = 401
    title = "Unauthorized"
    slug = "unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={
            "WWW-Authenticate": 'Bearer realm="polyad", error="invalid_token"'})


class Forbidden(PolyadError):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


class InsufficientScope(Forbidden):
    def __init__(self, scope: str) -> None:
        super().__init__(f"this token lacks the {scope!r} scope", headers={
            "WWW-Authenticate":
                f'Bearer realm="polyad", error="insufficient_scope", scope="{scope}"'})


class NotFound(PolyadError):
    status = 404
    title = "Not Found"
    slug = "not-found"


class TooManyRequests(PolyadError):
    status = 429
    title = "Too Many Requests"
    slug = "rate-limited"


class Conflict(PolyadError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class ServiceUnavailable(PolyadError):
    status = 503
    title = "Service Unavailable"
    slug = "unavailable"

    def __init__(self, detail: str, *, retry_after_s: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)})


class NotReady(ServiceUnavailable):
    """No sample of the host yet: a 503 of its own kind, so clients can tell it apart."""

    slug = "not-ready"
