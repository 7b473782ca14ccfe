"""GET /metrics answers the exposition to a scraper that asks for it (Prometheus 3 scrapes
/metrics by default and refuses JSON) and the seed's JSON to everyone else."""

from __future__ import annotations

import pytest

from polyad.views.schemas import MetricsResponse
from tests.conftest import AppClient, MakeClient, make_token

# Accept headers as real clients send them
PROMETHEUS_2 = ("application/openmetrics-text;version=1.0.0,"
                "application/openmetrics-text;version=0.0.1;q=0.75,"
                "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
PROMETHEUS_3 = ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8,"
                "application/openmetrics-text;version=0.0.1;q=0.75,"
                "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.5,"
                "text/plain;version=0.0.4;q=0.3,*/*;q=0.2")
CURL = "*/*"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
TEXT_ONLY = "text/plain;version=0.0.4"

OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
JSON_TYPE = "application/json"


@pytest.fixture
async def one_tick_client(make_client: MakeClient) -> AppClient:
    """One tick for the whole test: both endpoints serve the same memoized exposition."""
    return await make_client(sampler={"interval": "1h"})


async def get(client: AppClient, path: str, accept: str | None) -> tuple[str, str, bytes]:
    """The Content-Type, Vary and body of a GET; `accept` None sends no Accept header at all
    (aiohttp's client would send `*/*`)."""
    if accept is None:
        response = await client.get(path, skip_auto_headers=["Accept"])
    else:
        response = await client.get(path, headers={"Accept": accept})
    assert response.status == 200, await response.text()
    return response.headers["Content-Type"], response.headers.get("Vary", ""), \
        await response.read()


@pytest.mark.parametrize(("accept", "content_type"), [
    (PROMETHEUS_2, OPENMETRICS_TYPE),
    (PROMETHEUS_3, OPENMETRICS_TYPE),
    (TEXT_ONLY, TEXT_TYPE),
], ids=["prometheus-2", "prometheus-3", "text-format-only"])
async def test_a_scraper_gets_the_exposition_from_metrics_as_from_metrics_prom(
    one_tick_client: AppClient, accept: str, content_type: str,
) -> None:
    negotiated = await get(one_tick_client, "/metrics", accept)
    prometheus = await get(one_tick_client, "/metrics/prom", accept)
    assert negotiated == prometheus
    assert negotiated[0] == content_type
    assert negotiated[1] == "Accept"
    assert b"polyad_build_info{" in negotiated[2]
    if content_type == OPENMETRICS_TYPE:
        assert negotiated[2].endswith(b"# EOF\n")


@pytest.mark.parametrize("accept", [CURL, BROWSER, None], ids=["curl", "browser", "none"])
async def test_everyone_else_gets_the_seeds_json_and_a_vary_header(
    client: AppClient, accept: str | None,
) -> None:
    content_type, vary, body = await get(client, "/metrics", accept)
    assert content_type.startswith(JSON_TYPE)
    assert vary == "Accept"  # the body depends on Accept, so a cache must key on it
    MetricsResponse.model_validate_json(body)
    assert (await get(client, "/metrics/prom", accept))[1] == "Accept"


# (Accept, whether /metrics answers the exposition)
Q_VALUE_CASES = [
    # JSON wins a tie: the seed's clients come first
    ("application/json, text/plain;version=0.0.4", False),
    ("text/plain;version=0.0.4;q=0.5, application/json;q=0.5", False),
    ("application/json;q=0.4, application/openmetrics-text;version=1.0.0;q=0.5", True),
    # */* counts for JSON only where nothing more specific names it
    ("text/plain;version=0.0.4;q=0.9, application/json;q=0.2, */*", True),
    ("text/plain;version=0.0.4;q=0.5, */*", False),
    ("text/plain;version=0.0.4;q=0.5, application/*;q=0.6", False),
    ("text/plain", False),                            # any text, not the Prometheus format
    ("application/openmetrics-text;q=0", False),      # q=0: not acceptable
    ("application/openmetrics-text;q=banana", True),  # a malformed q does not refuse it
    ("APPLICATION/OpenMetrics-Text; Version=1.0.0", True),  # media types ignore case
]


async def test_q_values_decide_between_json_and_the_exposition(client: AppClient) -> None:
    answered = {accept: not (await get(client, "/metrics", accept))[0].startswith(JSON_TYPE)
                for accept, _ in Q_VALUE_CASES}
    assert answered == dict(Q_VALUE_CASES)


async def test_the_exposition_prefers_what_the_scraper_ranks_first(client: AppClient) -> None:
    # A Prometheus with `scrape_protocols: [PrometheusText0.0.4, OpenMetricsText1.0.0]`
    text_first = ("text/plain;version=0.0.4,application/openmetrics-text;version=1.0.0;q=0.9,"
                  "*/*;q=0.8")
    for path in ("/metrics", "/metrics/prom"):
        assert (await get(client, path, text_first))[0] == TEXT_TYPE, path


async def test_the_exposition_on_metrics_needs_the_read_scope(make_client: MakeClient) -> None:
    reader = await make_client()
    assert (await get(reader, "/metrics", PROMETHEUS_3))[0] == OPENMETRICS_TYPE
    without_read = await make_client(token=make_token(["tasks"]))
    for path in ("/metrics", "/metrics/prom"):
        response = await without_read.get(path, headers={"Accept": PROMETHEUS_3})
        assert response.status == 403, path
    anonymous = await make_client(token=None)
    assert (await anonymous.get("/metrics", headers={"Accept": PROMETHEUS_3})).status == 401


async def test_openapi_says_metrics_may_answer_the_exposition(client: AppClient) -> None:
    paths = (await (await client.get("/openapi.json")).json())["paths"]
    metrics = paths["/metrics"]["get"]["responses"]["200"]["content"]
    assert set(metrics) == {JSON_TYPE, "text/plain", "application/openmetrics-text"}
    assert metrics[JSON_TYPE]["schema"] == {"$ref": "#/components/schemas/MetricsResponse"}
    assert metrics["text/plain"]["schema"] == {"type": "string"}
    prometheus = paths["/metrics/prom"]["get"]["responses"]["200"]["content"]
    assert set(prometheus) == {"text/plain", "application/openmetrics-text"}
