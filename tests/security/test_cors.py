"""CORS: only the allowed origins get CORS headers; preflight allows the Authorization header."""

from __future__ import annotations

from tests.conftest import MakeClient

GRAFANA = "https://grafana.example.com"
PREFLIGHT = {"Access-Control-Request-Method": "GET",
             "Access-Control-Request-Headers": "authorization"}


async def test_no_origins_configured_means_no_cors_headers(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.get("/status", headers={"Origin": GRAFANA})
    assert response.status == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = await client.options("/status", headers={"Origin": GRAFANA, **PREFLIGHT})
    assert "Access-Control-Allow-Origin" not in preflight.headers


async def test_an_allowed_origin_passes_preflight_and_reads_responses(
    make_client: MakeClient,
) -> None:
    client = await make_client(cors={"allow_origins": [GRAFANA]}, token=None)
    preflight = await client.options("/status", headers={"Origin": GRAFANA, **PREFLIGHT})
    assert preflight.status == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == GRAFANA
    assert "AUTHORIZATION" in preflight.headers["Access-Control-Allow-Headers"].upper()
    # the actual request still needs its token; the browser may read the 401 problem
    unauthenticated = await client.get("/status", headers={"Origin": GRAFANA})
    assert unauthenticated.status == 401
    assert unauthenticated.headers["Access-Control-Allow-Origin"] == GRAFANA


async def test_another_origin_is_denied(make_client: MakeClient) -> None:
    client = await make_client(cors={"allow_origins": [GRAFANA]})
    evil = "https://evil.example.net"
    preflight = await client.options("/status", headers={"Origin": evil, **PREFLIGHT})
    assert preflight.status == 403
    assert "Access-Control-Allow-Origin" not in preflight.headers
    response = await client.get("/status", headers={"Origin": evil})
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_responses_vary_by_origin_whichever_the_origin(make_client: MakeClient) -> None:
    """A shared cache must not hand the copy made for one origin (with its CORS headers, or
    without them) to another."""
    client = await make_client(cors={"allow_origins": [GRAFANA]})
    for origin in (GRAFANA, "https://evil.example.net"):
        for response in (await client.get("/status", headers={"Origin": origin}),
                         await client.get("/nowhere", headers={"Origin": origin}),
                         await client.options("/status", headers={"Origin": origin,
                                                                   **PREFLIGHT})):
            assert "Origin" in response.headers.getall("Vary"), (origin, response.url)
