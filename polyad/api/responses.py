"""The one way a handler answers with JSON (errors have their own: problems.py)."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from pydantic import BaseModel

__all__ = ["JSON", "json_response"]

JSON = "application/json"


def json_response(body: BaseModel | bytes, status: int = 200,
                  headers: Mapping[str, str] | None = None) -> web.Response:
    """A model as a JSON response; `bytes` are a body already rendered (the snapshot views keep
    theirs, rendered once per snapshot)."""
    if isinstance(body, BaseModel):
        body = body.model_dump_json().encode()
    return web.Response(body=body, status=status, content_type=JSON, headers=headers)
