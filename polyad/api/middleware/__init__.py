"""What every request goes through, in one middleware (`pipeline.serve_request`); each step is
a plain function in a module of its own."""

from __future__ import annotations

from aiohttp.typedefs import Middleware

from polyad.api.middleware.pipeline import serve_request

__all__ = ["MIDDLEWARES"]

MIDDLEWARES: tuple[Middleware, ...] = (serve_request,)
