from __future__ import annotations

from structlog.testing import capture_logs

from tests.conftest import AppClient, MakeClient


async def test_a_client_request_id_is_honoured_and_logged(client: AppClient) -> None:
    with capture_logs() as logs:
        response = await client.get("/status", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    access = [log for log in logs if log["event"] == "request"]
    assert len(access) == 1
    line = access[0]
    assert line["method"] == "GET" and line["route"] == "/status" and line["status"] == 200
    assert line["duration_ms"] >= 0


async def test_a_missing_or_unsafe_request_id_is_replaced(client: AppClient) -> None:
    made = await client.get("/healthz")
    assert len(made.headers["X-Request-ID"]) == 32
    for unsafe in ("a" * 129, "evil\tvalue", "<script>"):
        response = await client.get("/healthz", headers={"X-Request-ID": unsafe})
        assert response.headers["X-Request-ID"] != unsafe


async def test_errors_carry_the_request_id_too(client: AppClient) -> None:
    with capture_logs() as logs:
        response = await client.get("/nope", headers={"X-Request-ID": "trace-404"})
    assert response.status == 404
    assert response.headers["X-Request-ID"] == "trace-404"
    assert [(log["route"], log["status"]) for log in logs if log["event"] == "request"] == [
        (None, 404)]


async def test_above_level_info_no_access_line_is_built(make_client: MakeClient) -> None:
    client = await make_client(logging={"level": "warning"})
    with capture_logs() as logs:
        response = await client.get("/status", headers={"X-Request-ID": "quiet-1"})
    assert response.status == 200
    assert response.headers["X-Request-ID"] == "quiet-1"
    assert [log for log in logs if log["event"] == "request"] == []
