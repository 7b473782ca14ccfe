"""Request bodies: JSON only, bounded in size and in time, parsed once, validated against a
pydantic model; and the `Expect: 100-continue` step that comes before them."""

from __future__ import annotations

import asyncio
import json
from typing import Any, TypeVar

import orjson
import pydantic
from aiohttp import HttpVersion11, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from polyad.api.keys import CONFIG
from polyad.api.middleware.problems import answer_early
from polyad.config.sections import ServerConfig
from polyad.errors import (
    BadRequest,
    ExpectationFailed,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
    ValidationError,
)

__all__ = ["MAX_JSON_DEPTH", "MAX_JSON_NODES", "expect_body", "field_errors", "read_json"]

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)

MAX_JSON_DEPTH = 16         # nesting of objects and arrays
MAX_JSON_NODES = 10_000     # values in all; with the byte limit, bounds the work a body costs
_SHOWN_KEY_CHARS = 64       # a repeated key is named in the 400, cut to this


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json"))


def _check_shape(document: Any) -> int:
    """Refuses a document nested too deep or holding too many values; returns the number of
    keys its objects hold."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    nodes = keys = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_JSON_NODES:
            raise ValidationError(f"the body holds more than {MAX_JSON_NODES} values")
        if isinstance(value, dict):
            keys += len(value)
            children: Any = value.values()
        else:
            children = value if isinstance(value, list) else ()
        if children and depth >= MAX_JSON_DEPTH:
            raise ValidationError(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)
    return keys


def _refuse_repeated_keys(body: bytes, keys: int) -> None:
    """orjson keeps the last of a repeated key, so `{"action": "a", "action": "b"}` would mean
    whatever a reader of its first half did not expect. Each key in the text is followed by one
    colon, so a body with no more colons than its parsed objects hold keys repeats none: the
    usual case costs one byte count. Otherwise (colons inside strings, or a repeat) the body is
    parsed again, keeping every pair, to tell which."""
    if body.count(b":") <= keys:
        return
    json.loads(body, object_pairs_hook=_unique)


def _unique(pairs: list[tuple[str, Any]]) -> None:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            shown = key if len(key) <= _SHOWN_KEY_CHARS else key[:_SHOWN_KEY_CHARS] + "…"
            raise BadRequest(f"the body repeats the key {json.dumps(shown)}")
        seen.add(key)


def field_errors(error: pydantic.ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Location, message and kind of each problem; never the offending input, which may be
    large or private."""
    return [{"field": prefix + ".".join(str(part) for part in problem["loc"]) or "(body)",
             "message": problem["msg"], "type": problem["type"]}
            for problem in error.errors(include_url=False, include_input=False)]


def _expectation(request: web.Request) -> str | None:
    """The request's `Expect:` in lower case; None when it has none, or when it is HTTP/1.0,
    whose expectations are ignored (RFC 9110 §10.1.1, as aiohttp does)."""
    if request.version != HttpVersion11 or hdrs.EXPECT not in request.headers:
        return None
    return request.headers[hdrs.EXPECT].lower()


async def expect_body(request: web.Request) -> web.StreamResponse | None:
    """aiohttp's `Expect:` step, for every route; aiohttp runs it before any middleware. An
    expectation other than 100-continue (417), or a declared body over server.max_body (413),
    is answered at once as problem+json. `100 Continue` itself waits until a view reads the
    body (`read_json`), so a request refused anyway (401, 403, 429) never invites it."""
    expectation = _expectation(request)
    if expectation is None:
        return None
    if expectation != "100-continue":
        return answer_early(request, ExpectationFailed(
            "the only expectation this agent meets is Expect: 100-continue"))
    max_body = request.app[CONFIG].server.max_body
    if request.content_length is not None and request.content_length > max_body:
        return answer_early(request, PayloadTooLarge(
            f"request body is larger than {max_body} bytes"))
    return None


async def _invite_body(request: web.Request) -> None:
    if _expectation(request) == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the response proper has not begun (as aiohttp does)


def _server_config(request: web.Request) -> ServerConfig:
    # create_app's app always holds its config; an app without one (a unit test's mocked
    # request) reads with the defaults.
    return request.app[CONFIG].server if CONFIG in request.app else ServerConfig()


async def _read_body(request: web.Request) -> bytes:
    read_timeout_s = _server_config(request).read_timeout
    await _invite_body(request)
    try:
        # A client that trickles its body holds a connection and a view; the headers are
        # timed in api/protocol.py.
        async with asyncio.timeout(read_timeout_s):
            return await request.read()  # over server.max_body: aiohttp raises 413 here
    except TimeoutError:
        raise RequestTimeout(f"the body did not arrive within {read_timeout_s:g}s") from None
    except (RequestPayloadError, HttpProcessingError, ConnectionResetError):
        # a corrupt compressed body, or a client gone mid-body: say so, log no traceback
        raise BadRequest("the body could not be read (corrupt encoding or cut short)") from None


async def read_json(request: web.Request, model: type[ModelT]) -> ModelT:
    if not _is_json(request.content_type):
        raise UnsupportedMediaType(
            f"the body must be application/json, not {request.content_type or 'absent'}")
    body = await _read_body(request)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"the body is not valid JSON: {error.msg} at position {error.pos}"
                         ) from None
    _refuse_repeated_keys(body, _check_shape(document))
    try:
        return model.model_validate(document)
    except pydantic.ValidationError as error:
        raise ValidationError("the body does not match the schema",
                              errors=field_errors(error)) from None
