"""Rate limits: exact under a burst, per identity, shared through real Redis, and surviving a
Redis that is down."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pytest
import redis.asyncio as aioredis

from polyad.security.clients import client_address, forwarded_hops
from tests.conftest import REDIS_URL, AppClient, MakeClient, bearer, make_token

SEED_TASK = {"type": "system", "action": "monitor", "data": {}}


async def burst(client: AppClient, count: int, **kwargs: Any) -> list[Any]:
    responses = await asyncio.gather(*(client.get("/status", **kwargs) for _ in range(count)))
    for response in responses:
        await response.read()
    return list(responses)


def assert_refusal_headers(response: Any, limit: int) -> None:
    assert response.status == 429
    assert response.content_type == "application/problem+json"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["RateLimit-Limit"] == str(limit)
    assert response.headers["RateLimit-Remaining"] == "0"
    assert response.headers["RateLimit-Reset"] == response.headers["Retry-After"]


async def test_a_burst_of_three_times_the_limit_admits_exactly_the_limit(
    make_client: MakeClient,
) -> None:
    client = await make_client(rate_limit={"default": "5/minute"})
    responses = await burst(client, 15)
    assert sorted(r.status for r in responses) == [200] * 5 + [429] * 10
    assert_refusal_headers(next(r for r in responses if r.status == 429), 5)
    # another identity has its own allowance
    other = await burst(client, 5, headers=bearer(make_token(subject="someone-else")))
    assert [r.status for r in other] == [200] * 5


async def test_open_routes_are_not_limited(make_client: MakeClient) -> None:
    client = await make_client(rate_limit={"default": "1/minute"})
    for path in ("/healthz", "/readyz", "/openapi.json") * 3:
        assert (await client.get(path)).status == 200


async def test_task_submissions_have_their_own_tighter_limit(make_client: MakeClient) -> None:
    client = await make_client(rate_limit={"default": "100/minute", "tasks": "2/minute"})
    statuses = [(await client.post("/task", json=SEED_TASK)).status for _ in range(5)]
    assert statuses == [202, 202, 429, 429, 429]
    assert (await client.get("/status")).status == 200  # reads are still allowed


async def test_redis_storage_counts_exactly_and_is_shared_by_agents(
    make_client: MakeClient, redis_prefix: str
) -> None:
    settings = {"rate_limit": {"default": "6/minute", "storage": "redis"},
                "redis": {"url": REDIS_URL, "prefix": redis_prefix}}
    first = await make_client(**settings)
    second = await make_client(**settings)  # another agent of the fleet, same Redis
    responses = await burst(first, 12)
    assert sorted(r.status for r in responses) == [200] * 6 + [429] * 6
    assert_refusal_headers(next(r for r in responses if r.status == 429), 6)
    assert (await second.get("/status")).status == 429  # the same identity, already spent
    stored = aioredis.from_url(REDIS_URL)
    assert [key async for key in stored.scan_iter(match=f"{redis_prefix}*")]
    await stored.aclose()
    status = await (await first.get("/status", headers=bearer(make_token(subject="b")))).json()
    assert status["components"]["rate_limit"] == {"status": "ok", "detail": "redis storage"}


async def test_redis_down_falls_back_to_memory_and_says_degraded(
    make_client: MakeClient,
) -> None:
    client = await make_client(rate_limit={"default": "4/minute", "storage": "redis"},
                               redis={"url": "redis://127.0.0.1:1/0"})  # nothing listens there
    statuses = [(await client.get("/metrics")).status for _ in range(6)]
    assert statuses == [200] * 4 + [429] * 2  # still limited, never a 500
    status = await (await client.get("/status", headers=bearer(make_token(subject="x")))).json()
    assert status["status"] == "degraded"
    assert status["components"]["rate_limit"]["status"] == "failed"
    assert "counting in memory" in status["components"]["rate_limit"]["detail"]


async def test_with_auth_off_the_client_address_is_the_identity(
    make_client: MakeClient,
) -> None:
    client = await make_client(auth={"enabled": False}, rate_limit={"default": "2/minute"},
                               token=None)
    assert [(await client.get("/status")).status for _ in range(3)] == [200, 200, 429]


PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32")]


@pytest.mark.parametrize(("peer", "headers", "expected"), [
    ("203.0.113.9", [], "203.0.113.9"),
    ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),      # not a proxy: header ignored
    ("127.0.0.1", ["198.51.100.1"], "198.51.100.1"),       # trusted proxy: take its word
    ("127.0.0.1", ["6.6.6.6, 198.51.100.1, 10.1.1.1"], "198.51.100.1"),  # spoofed left hop
    ("127.0.0.1", ["10.2.2.2, 10.1.1.1"], "10.2.2.2"),     # all hops are proxies
    ("127.0.0.1", ["not-an-ip"], "127.0.0.1"),             # garbage vouches for nothing
    ("127.0.0.1", ["x" * 7000 + ", 198.51.100.3"], "198.51.100.3"),
    # a proxy that adds its own header rather than extending the client's
    ("127.0.0.1", ["10.0.0.5", "198.51.100.7"], "198.51.100.7"),
])
def test_x_forwarded_for_is_believed_only_from_trusted_proxies(
    peer: str, headers: list[str], expected: str
) -> None:
    assert client_address(peer, forwarded_hops("x-forwarded-for", headers), PROXIES) == expected


def test_rfc7239_forwarded_hops_count_when_chosen() -> None:
    hops = forwarded_hops("forwarded", ['for=192.0.2.60;proto=http, for="[2001:db8::1]:4711"',
                                        'For="198.51.100.4:8080";by=10.0.0.1'])
    assert hops == ["192.0.2.60", "2001:db8::1", "198.51.100.4"]


async def test_a_client_cannot_pick_its_identity_with_its_own_header(
    make_client: MakeClient,
) -> None:
    client = await make_client(auth={"enabled": False}, token=None,
                               rate_limit={"default": "5/minute",
                                           "trusted_proxies": ["127.0.0.1/32"]})
    # the proxy (this test client, on loopback) appends the real client as its own header;
    # with auth off only local chains are served, so the chain stays on loopback addresses
    statuses = [(await client.get("/status", headers=[("X-Forwarded-For", f"127.0.0.{i}"),
                                                      ("X-Forwarded-For", "127.9.9.9")])).status
                for i in range(8)]
    assert statuses == [200] * 5 + [429] * 3


async def test_requests_without_a_valid_token_are_throttled_per_address(
    make_client: MakeClient,
) -> None:
    client = await make_client(rate_limit={"default": "5/minute"}, token=None)
    known = make_token(subject="known")
    assert (await client.get("/status", headers=bearer(known))).status == 200
    statuses = [(await client.get("/status", headers=bearer("forged.token.x"))).status
                for _ in range(4)]
    statuses += [(await client.get("/status")).status for _ in range(4)]
    assert statuses == [401] * 5 + [429] * 3
    # a token verified before the flood still passes (its own identity, its own allowance),
    # and so does a new valid one: an HMAC check costs little, and the address may be shared
    assert (await client.get("/status", headers=bearer(known))).status == 200
    assert (await client.get("/status", headers=bearer(make_token(subject="new")))).status == 200
    forged = await client.get("/status", headers=bearer(make_token(subject="new") + "x"))
    assert forged.status == 429 and int(forged.headers["Retry-After"]) >= 1
