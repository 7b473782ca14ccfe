"""Request bodies: JSON only, bounded, parsed once, validated against a pydantic model."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
import pydantic
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from polyad.errors import BadRequest, UnsupportedMediaType, ValidationError

__all__ = ["MAX_JSON_DEPTH", "MAX_JSON_NODES", "field_errors", "read_json"]

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)

MAX_JSON_DEPTH = 16         # nesting of objects and arrays
MAX_JSON_NODES = 10_000     # values in all; with the byte limit, bounds the work a body costs


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json"))


def _check_shape(document: Any) -> None:
    stack: list[tuple[Any, int]] = [(document, 1)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_JSON_NODES:
            raise ValidationError(f"the body holds more than {MAX_JSON_NODES} values")
        children = value.values() if isinstance(value, dict) else value \
            if isinstance(value, list) else ()
        if children and depth >= MAX_JSON_DEPTH:
            raise ValidationError(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)


def field_errors(error: pydantic.ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Location, message and kind of each problem; never the offending input, which may be
    large or private."""
    return [{"field": prefix + ".".join(str(part) for part in problem["loc"]) or "(body)",
             "message": problem["msg"], "type": problem["type"]}
            for problem in error.errors(include_url=False, include_input=False)]


async def read_json(request: web.Request, model: type[ModelT]) -> ModelT:
    if not _is_json(request.content_type):
        raise UnsupportedMediaType(
            f"the body must be application/json, not {request.content_type or 'absent'}")
    try:
        body = await request.read()  # over server.max_body: aiohttp raises 413 here
    except (RequestPayloadError, HttpProcessingError, ConnectionResetError):
        # a corrupt compressed body, or a client gone mid-body: say so, log no traceback
        raise BadRequest("the body could not be read (corrupt encoding or cut short)") from None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"the body is not valid JSON: {error.msg} at position {error.pos}"
                         ) from None
    _check_shape(document)
    try:
        return model.model_validate(document)
    except pydantic.ValidationError as error:
        raise ValidationError("the body does not match the schema",
                              errors=field_errors(error)) from None
