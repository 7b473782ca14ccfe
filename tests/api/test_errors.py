"""Every error is problem+json with the right status, and never shows a stack trace."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from structlog.testing import capture_logs

from polyad.api.app import create_app
from polyad.api.keys import SAMPLER
from polyad.config import load_config
from tests.conftest import AppClient, MakeClient

PROBLEM = "application/problem+json"


async def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status
    assert response.content_type == PROBLEM
    body: dict[str, Any] = await response.json(content_type=PROBLEM)
    assert body["status"] == status
    assert body["type"].startswith("https://polyad.dev/problems/")
    assert {"title", "detail"} <= set(body)
    return body


async def test_unknown_path_is_a_404_problem(client: AppClient) -> None:
    body = await problem(await client.get("/nowhere"), 404)
    assert body["title"] == "Not Found"
    assert body["detail"] == "no resource at /nowhere"
    assert body["instance"] == "/nowhere"


async def test_wrong_method_is_a_405_problem_with_allow(client: AppClient) -> None:
    response = await client.delete("/status")
    body = await problem(response, 405)
    assert "GET" in response.headers["Allow"]
    assert body["detail"] == "DELETE is not allowed on /status"


async def read_body(request: web.Request) -> web.Response:
    return web.Response(text=f"read {len(await request.read())} bytes")


async def explode(_: web.Request) -> web.Response:
    raise RuntimeError("secret internals /etc/passwd")


async def test_a_body_over_the_limit_is_a_413_problem(aiohttp_client: Any) -> None:
    app = create_app(load_config(environ={}, overrides={"server": {"max_body": "1KB"}}))
    app.router.add_post("/echo", read_body)
    client = await aiohttp_client(app)
    ok = await client.post("/echo", data=b"x" * 1024)
    assert ok.status == 200 and await ok.text() == "read 1024 bytes"
    body = await problem(await client.post("/echo", data=b"x" * 1025), 413)
    assert body["detail"] == "request body is larger than 1024 bytes"


async def test_an_unexpected_error_is_a_500_problem_without_the_trace(aiohttp_client: Any) -> None:
    app = create_app(load_config(environ={}))
    app.router.add_get("/explode", explode)
    client = await aiohttp_client(app)
    with capture_logs() as logs:
        response = await client.get("/explode")
    body = await problem(response, 500)
    text = str(body)
    assert "secret" not in text and "Traceback" not in text and "RuntimeError" not in text
    # the operator still gets the details, in the log, under the id the client was given
    assert any(log["event"] == "unhandled error" and log.get("exc_info") for log in logs)
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_before_the_first_sample_views_answer_503_with_retry_after(
    make_client: MakeClient,
) -> None:
    client = await make_client(sampler={"interval": "1h"})
    assert client.app is not None
    client.app[SAMPLER].snapshot = None
    response = await client.get("/metrics")
    body = await problem(response, 503)
    assert response.headers["Retry-After"] == "1"
    assert "first sample" in body["detail"]
