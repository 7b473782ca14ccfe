"""The route template a request matched, a bounded label for logs and metrics."""

from __future__ import annotations

from aiohttp import web

__all__ = ["route_template"]


def route_template(request: web.Request) -> str | None:
    """`/task/{task_id}`, never the raw path; None when no route matched (404)."""
    route = request.match_info.route
    resource = getattr(route, "resource", None)
    return resource.canonical if resource is not None else None
