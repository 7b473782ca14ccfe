from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

from polyad.api.keys import SAMPLER
from polyad.api.routes import ROUTES
from tests.conftest import AppClient, MakeClient


async def test_healthz_answers_without_anything_else(client: AppClient) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_head_is_answered_wherever_get_is(client: AppClient) -> None:
    for path in ("/healthz", "/status", "/metrics/prom"):
        response = await client.head(path)
        assert response.status == 200, path
        assert await response.read() == b""


async def test_readyz_is_ready_once_the_first_sample_exists(client: AppClient) -> None:
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 200
    assert body["status"] == "ready" and 0 <= body["snapshot_age_seconds"] < 5


async def test_readyz_is_not_ready_when_the_sampler_stops_ticking(
    make_client: MakeClient,
) -> None:
    client = await make_client(sampler={"interval": "100ms"})
    assert client.app is not None
    sampler = client.app[SAMPLER]
    await sampler.stop()  # as if the loop had died
    stale = sampler.snapshot
    assert stale is not None
    sampler.snapshot = type(stale)(seq=stale.seq, taken_at=stale.taken_at,
                                   monotonic_s=stale.monotonic_s - 10, started_at=stale.started_at)
    response = await client.get("/readyz")
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    assert (await response.json())["detail"] == "the sampler has stopped ticking"


def resolve_ref(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in refs(value)]
    return []


async def test_openapi_describes_every_route_with_resolvable_schemas(client: AppClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert document["openapi"] == "3.1.0"
    for route in ROUTES:
        assert route.method.lower() in document["paths"][route.path], route.path
    for path in ("/status", "/metrics", "/cache", "/task", "/metrics/prom", "/healthz"):
        assert path in document["paths"]
    for ref in refs(document):
        assert resolve_ref(document, ref), ref
    status_schema = document["components"]["schemas"]["StatusResponse"]
    assert {"status", "uptime", "resources", "cache"} <= set(status_schema["required"])
    task = document["paths"]["/task"]["post"]
    assert task["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TaskRequest"}
    assert "503" in task["responses"] and "422" in task["responses"]
    assert task["operationId"] == "submitTask"
    ids = [op["operationId"] for path in document["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert "Readiness" in str(document["paths"]["/readyz"]["get"]["responses"]["503"])
    load = document["components"]["schemas"]["LoadAverage"]
    assert set(load["properties"]) == {"1m", "5m", "15m"}  # the names clients see


async def test_the_document_is_valid_openapi_3_1(client: AppClient) -> None:
    document = await (await client.get("/openapi.json")).json()
    validate(document)  # raises with the offending path if the document breaks the spec


async def test_openapi_response_schemas_validate_real_responses(client: AppClient) -> None:
    from polyad.views.schemas import MetricsResponse, StatusResponse

    for path, model in (("/status", StatusResponse), ("/metrics", MetricsResponse)):
        body = await (await client.get(path)).text()
        model.model_validate_json(body)  # raises if the body strays from the schema
