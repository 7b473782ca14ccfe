"""The OpenAPI 3.1 document, built from the route table and the pydantic models it names."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from polyad import __version__
from polyad.api.problems import PROBLEM_CONTENT_TYPE
from polyad.api.routes import ROUTES, Route
from polyad.api.task_views import IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_PATTERN, TASK_ID_PATTERN
from polyad.tasks.registry import Handler
from polyad.views.schemas import Problem

__all__ = ["build_openapi"]

_REF = "#/components/schemas/{model}"
Mode = Literal["validation", "serialization"]


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {PROBLEM_CONTENT_TYPE: {"schema": _ref(Problem)}}}


def _body_schema(route: Route) -> dict[str, Any]:
    if route.response is not None:
        return _ref(route.response)
    return {"type": "object"} if route.media_type == "application/json" else {"type": "string"}


def _query(route: Route) -> list[dict[str, Any]]:
    """Query parameters from the same model the view validates the query string with."""
    if route.query is None:
        return []
    parameters = []
    document = route.query.model_json_schema()
    required = set(document.get("required", ()))
    for name, schema in document["properties"].items():
        # `X | None = None` means "may be left out", which a query parameter says by itself
        options = [option for option in schema.pop("anyOf", []) if option != {"type": "null"}]
        schema.pop("title", None)
        if schema.get("default", 0) is None:
            del schema["default"]
        # an array repeats the parameter (`?metric=a&metric=b`): OpenAPI's default form style
        parameters.append({"name": name, "in": "query", "required": name in required,
                           "schema": {**schema, **(options[0] if options else {})}})
    return parameters


def _content(route: Route) -> dict[str, Any]:
    content = {route.media_type: {"schema": _body_schema(route)}}
    content.update({media_type: {"schema": {"type": "string"}}
                    for media_type in route.negotiated})
    return content


def _operation(route: Route) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(route.status): {"description": route.summary, "content": _content(route)},
        "default": _problem("An error, as RFC 9457 problem details"),
    }
    if route.empty is not None:
        responses["204"] = {"description": route.empty}
    if route.unavailable is Problem:
        responses["503"] = _problem("No fresh sample of the host yet")
    elif route.unavailable is not None:
        responses["503"] = {"description": "Not ready", "content": {
            "application/json": {"schema": _ref(route.unavailable)}}}
    operation: dict[str, Any] = {
        "summary": route.summary,
        "operationId": route.operation_id,
        "responses": responses,
    }
    parameters = [{"name": name, "in": "path", "required": True,
                   "schema": {"type": "string", "pattern": TASK_ID_PATTERN}}
                  for name in re.findall(r"{(\w+)}", route.path)] + _query(route)
    if route.operation_id == "submitTask":
        parameters.append({
            "name": IDEMPOTENCY_KEY, "in": "header", "required": False,
            "description": "A retry with the same key and request gets the first task's 202 "
                           "(with Idempotent-Replayed: true); the same key with another request "
                           "is a 422. Keys are per identity, kept tasks.idempotency_ttl.",
            "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN}})
    if parameters:
        operation["parameters"] = parameters
        responses.setdefault("404", _problem("No such resource"))
        responses.setdefault("422", _problem("A parameter is not valid"))
    if route.request is not None:
        body = {"application/json": {"schema": _ref(route.request)}}
        operation["requestBody"] = {"required": True, "content": body}
        responses["422"] = _problem("The body is not valid")
    if route.scope is None:
        operation["security"] = []  # open: health, readiness, this document
    else:
        operation["security"] = [{"bearerAuth": [route.scope]}]
        responses["401"] = _problem("No valid bearer token")
        responses["403"] = _problem(f"The token lacks the {route.scope!r} scope")
        responses["429"] = _problem("Rate limited; see Retry-After")
    return operation


def _schemas(routes: tuple[Route, ...]) -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Mode]] = [(Problem, "serialization")]
    models += [(r.response, "serialization") for r in routes if r.response is not None]
    models += [(r.request, "validation") for r in routes if r.request is not None]
    unique = list(dict.fromkeys(models))
    _, definitions = models_json_schema(unique, ref_template=_REF)
    schemas: dict[str, Any] = definitions.get("$defs", {})
    return schemas


def _task_requests(handlers: Iterable[Handler], schemas: dict[str, Any]) -> None:
    """TaskRequest as it really is: one shape per registered handler, each with its own `data`
    model, so clients (and fuzzers) see which type/action pairs and data are accepted."""
    variants = []
    for handler in handlers:
        data_schema = handler.data_model.model_json_schema(ref_template=_REF)
        schemas.update(data_schema.pop("$defs", {}))
        name = f"TaskData_{handler.type}_{handler.action}"
        schemas[name] = data_schema
        variants.append({
            "type": "object", "title": handler.key, "description": handler.description,
            "properties": {"type": {"const": handler.type}, "action": {"const": handler.action},
                           "data": {"$ref": _REF.format(model=name)},
                           "priority": {"enum": ["low", "normal", "high"],
                                        "default": "normal"},
                           # null: the same as left out
                           "timeout": {"type": ["number", "null"], "exclusiveMinimum": 0,
                                       "maximum": handler.timeout_s},
                           "deadline": {"type": ["string", "null"], "format": "date-time"}},
            # `data` may be left out only when its model has nothing required
            "required": ["type", "action", *(["data"] if data_schema.get("required") else [])],
            "additionalProperties": False})
    if variants:
        schemas["TaskRequest"] = {"oneOf": variants}


def build_openapi(routes: tuple[Route, ...] = ROUTES,
                  handlers: Iterable[Handler] = ()) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    schemas = _schemas(routes)
    _task_requests(handlers, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "polyad",
            "version": __version__,
            "description": "Host agent: metrics, tasks, cache and alerts over one REST API.",
        },
        "paths": paths,
        "security": [{"bearerAuth": []}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "Scopes, in the token's space-separated `scope` claim: read "
                               "(every GET), tasks (submit and cancel tasks), admin."}},
        },
    }
