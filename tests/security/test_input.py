"""Bodies: JSON only, bounded, and every schema violation named field by field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from polyad.api.bodies import MAX_JSON_DEPTH
from tests.conftest import AppClient, MakeClient

PROBLEM = "application/problem+json"
SEED_TASK = {"type": "system", "action": "monitor", "data": {"components": ["cpu", "memory"]}}


async def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == PROBLEM
    body: dict[str, Any] = await response.json(content_type=PROBLEM)
    return body


async def test_a_body_that_is_not_json_is_415(client: AppClient) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        response = await client.post("/task", data=json.dumps(SEED_TASK),
                                     headers={"Content-Type": content_type})
        body = await problem(response, 415)
        assert "application/json" in body["detail"]


@pytest.mark.parametrize("raw", [b"{", b"{'type': 'system'}", b"\xff\xfe", b"", b"[1, 2"])
async def test_malformed_json_is_400(client: AppClient, raw: bytes) -> None:
    response = await client.post("/task", data=raw, headers={"Content-Type": "application/json"})
    body = await problem(response, 400)
    assert body["detail"].startswith("the body is not valid JSON")


async def test_a_body_over_max_body_is_413(make_client: MakeClient) -> None:
    client = await make_client(server={"max_body": "2KB"})
    large = {**SEED_TASK, "data": {"blob": "x" * 4096}}
    await problem(await client.post("/task", json=large), 413)


async def test_each_field_error_is_listed_without_echoing_the_input(client: AppClient) -> None:
    response = await client.post("/task", json={
        "type": "System; rm -rf /", "action": 42, "priority": "urgent",
        "data": "not an object", "extra": "field"})
    body = await problem(response, 422)
    fields = {error["field"]: error["type"] for error in body["errors"]}
    assert fields == {"type": "string_pattern_mismatch", "action": "string_type",
                      "priority": "literal_error", "data": "dict_type",
                      "extra": "extra_forbidden"}
    assert "rm -rf" not in json.dumps(body)


async def test_missing_fields_are_named(client: AppClient) -> None:
    body = await problem(await client.post("/task", json={}), 422)
    assert {error["field"] for error in body["errors"]} == {"type", "action"}


async def test_deeply_nested_data_is_refused(client: AppClient) -> None:
    nested: Any = "leaf"
    for _ in range(MAX_JSON_DEPTH + 1):
        nested = {"n": nested}
    body = await problem(await client.post("/task", json={**SEED_TASK, "data": nested}), 422)
    assert "nests deeper" in body["detail"]


async def test_a_body_with_too_many_values_is_refused(make_client: MakeClient) -> None:
    client = await make_client(server={"max_body": "1MB"})
    body = await problem(await client.post(
        "/task", json={**SEED_TASK, "data": {"values": list(range(20_000))}}), 422)
    assert "more than" in body["detail"]


async def test_a_valid_seed_task_is_accepted(client: AppClient) -> None:
    response = await client.post("/task", json=SEED_TASK)
    assert response.status == 202


@pytest.mark.parametrize(("raw", "key"), [
    (b'{"type": "system", "action": "monitor", "action": "rm"}', "action"),
    (b'{"type": "system", "action": "monitor", "data": {"components": ["cpu"], '
     b'"components": ["memory"]}}', "components"),
])
async def test_a_repeated_key_is_400_naming_it(client: AppClient, raw: bytes, key: str) -> None:
    response = await client.post("/task", data=raw, headers={"Content-Type": "application/json"})
    body = await problem(response, 400)
    assert body["detail"] == f'the body repeats the key "{key}"'


async def test_colons_inside_strings_are_not_taken_for_repeated_keys(client: AppClient) -> None:
    # more colons than keys: parsed again, found to repeat nothing, and on to the schema
    task = {**SEED_TASK, "at": "12:00:00", "url": "http://a:1/b", "a:b": 1}
    body = await problem(await client.post("/task", json=task), 422)
    assert {error["field"] for error in body["errors"]} == {"at", "url", "a:b"}
