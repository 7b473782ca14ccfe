"""The middleware stack, outermost first, written once here."""

from __future__ import annotations

from aiohttp.typedefs import Middleware

from polyad.api.middleware.auth import authenticate
from polyad.api.middleware.http_metrics import http_metrics
from polyad.api.middleware.problems import problems
from polyad.api.middleware.rate_limit import rate_limit
from polyad.api.middleware.request_context import request_context

__all__ = ["MIDDLEWARES"]

# request id + access log → HTTP metrics → error mapping → authentication and scopes →
# rate limits (per identity, so after auth)
MIDDLEWARES: tuple[Middleware, ...] = (request_context, http_metrics, problems, authenticate,
                                       rate_limit)
