"""RFC 9457 problem details: the one shape every error response has."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from aiohttp import web

from polyad.views.schemas import Problem

__all__ = ["PROBLEM_CONTENT_TYPE", "problem_body", "problem_response"]

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://polyad.dev/problems/"


def problem_body(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    instance: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    request_id: str | None = None,
) -> bytes:
    problem = Problem(type=PROBLEM_TYPE_BASE + slug, title=title, status=status, detail=detail,
                      instance=instance, request_id=request_id,
                      errors=[dict(e) for e in errors] if errors else None)
    return problem.model_dump_json(exclude_none=True).encode()


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    instance: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """The problem as a response, quoting the request id bound to this request's log context."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    return web.Response(
        status=status,
        body=problem_body(status, title, detail, slug=slug, instance=instance, errors=errors,
                          request_id=request_id),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )
