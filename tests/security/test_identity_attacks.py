"""Attacks on who a request counts as: a spoofed forwarding header, two Authorization headers,
refusals that went uncounted, and a flooder locking out the valid users of its address."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from polyad.errors import ConfigError
from tests.conftest import AppClient, MakeClient, bearer, make_token
from tests.conftest import test_config as config_for_test
from tests.security.test_attacks import PROBLEM, rsa_keys

Headers = list[tuple[str, str]]
BEHIND_A_PROXY = {"trusted_proxies": ["127.0.0.1/32"]}  # the test client's address


async def statuses(client: AppClient, count: int, headers: Headers | None = None,
                   path: str = "/status") -> list[int]:
    return [(await client.get(path, headers=headers or [])).status for _ in range(count)]


# -- a forwarding header the proxy does not write is the client's own ------------------------

async def test_a_client_written_forwarded_header_does_not_renew_its_allowance(
    make_client: MakeClient,
) -> None:
    client = await make_client(token=None, rate_limit={"default": "3/minute", **BEHIND_A_PROXY})
    # what nginx passes on: the client's address appended to X-Forwarded-For
    proxied = [("X-Forwarded-For", "9.9.9.9")]
    assert await statuses(client, 4, proxied) == [401, 401, 401, 429]
    for spoofed in ("for=1.1.1.3", "for=1.1.1.4;proto=https", 'for="[2001:db8::7]"'):
        assert await statuses(client, 1, [*proxied, ("Forwarded", spoofed)]) == [429], spoofed
    # the address is still read from X-Forwarded-For: another one has its own allowance
    assert await statuses(client, 1, [("X-Forwarded-For", "9.9.9.8")]) == [401]


async def test_with_forwarded_chosen_x_forwarded_for_is_the_clients_own(
    make_client: MakeClient,
) -> None:
    client = await make_client(token=None, rate_limit={
        "default": "3/minute", "forwarded_header": "forwarded", **BEHIND_A_PROXY})
    proxied = [("Forwarded", "for=9.9.9.9;proto=https")]
    assert await statuses(client, 4, proxied) == [401, 401, 401, 429]
    assert await statuses(client, 1, [*proxied, ("X-Forwarded-For", "1.1.1.3")]) == [429]
    assert await statuses(client, 1, [("Forwarded", 'for="9.9.9.8:4711"')]) == [401]


def test_the_forwarded_header_setting_takes_only_the_two_kinds(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"rate_limit\.forwarded_header"):
        config_for_test(tmp_path, rate_limit={"forwarded_header": "x-real-ip"})


@pytest.mark.parametrize("chosen", ["x-forwarded-for", "forwarded"])
async def test_auth_off_refuses_a_remote_hop_in_either_header_whichever_is_chosen(
    make_client: MakeClient, chosen: str,
) -> None:
    # The refusal reads both: a local proxy writing the header not chosen must not make its
    # remote clients look local.
    client = await make_client(auth={"enabled": False}, token=None,
                               rate_limit={"forwarded_header": chosen, **BEHIND_A_PROXY})
    for remote in ([("X-Forwarded-For", "198.51.100.99")], [("Forwarded", "for=203.0.113.5")],
                   [("X-Forwarded-For", "127.0.0.1"), ("Forwarded", "for=203.0.113.5")],
                   [("Forwarded", "for=127.0.0.1"), ("X-Forwarded-For", "198.51.100.99")],
                   [("Forwarded", "for=unknown")]):
        assert await statuses(client, 1, remote) == [403], remote
    local = [("X-Forwarded-For", "127.0.0.1"), ("Forwarded", 'for="127.0.0.1:5000"')]
    assert await statuses(client, 1, local) == [200]


# -- two Authorization headers ----------------------------------------------------------------

async def test_two_authorization_headers_are_a_400_problem(make_client: MakeClient) -> None:
    client = await make_client(token=None)
    valid, forged = make_token(), make_token() + "x"
    for first, second in ((valid, forged), (forged, valid), (valid, valid)):
        response = await client.get("/status", headers=[("Authorization", f"Bearer {first}"),
                                                        ("Authorization", f"Bearer {second}")])
        assert response.status == 400
        assert response.content_type == PROBLEM
        body = await response.json(content_type=PROBLEM)
        assert body["detail"] == "expected one Authorization header, got several"
    assert (await client.get("/status", headers=bearer(valid))).status == 200


# -- refusals for a missing scope count -------------------------------------------------------

async def test_a_token_without_the_scope_hammering_a_route_gets_429(
    make_client: MakeClient,
) -> None:
    client = await make_client(token=make_token(scopes=["tasks"]),
                               rate_limit={"default": "3/minute"})
    assert await statuses(client, 5, path="/metrics") == [403, 403, 403, 429, 429]
    refused = await client.get("/metrics")
    assert refused.headers["RateLimit-Limit"] == "3"


# -- a flooder does not lock out the valid users of its address -------------------------------

async def test_valid_hmac_tokens_pass_from_an_address_flooded_with_bad_ones(
    make_client: MakeClient,
) -> None:
    client = await make_client(token=None, rate_limit={"default": "5/minute"})
    forged = [("Authorization", f"Bearer {make_token(subject='mallory')}x")]
    assert await statuses(client, 8, forged) == [401] * 5 + [429] * 3
    assert await statuses(client, 2) == [429, 429]  # no token at all
    for index in range(10):  # fresh valid tokens, each checked, each its own identity
        token = make_token(subject=f"user-{index}")
        assert (await client.get("/status", headers=bearer(token))).status == 200, index
        assert await statuses(client, 1, forged) == [429]


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token whose signature the agent checks."""
    checked: list[str] = []
    decode = jwt.decode

    def counting_decode(token: str, *args: Any, **kwargs: Any) -> Any:
        checked.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting_decode)  # as polyad.security.tokens calls it
    return checked


async def test_past_its_allowance_an_address_gets_a_few_public_key_checks_only(
    make_client: MakeClient, tmp_path: Path, signature_checks: list[str],
) -> None:
    private, pem_path = rsa_keys(tmp_path)
    client = await make_client(token=None, rate_limit={"default": "20/minute"},
                               auth={"secret": None, "algorithms": ["RS256"],
                                     "public_key": str(pem_path)})
    now = int(time.time())

    def rs256(subject: str) -> str:
        claims = {"sub": subject, "scope": "read", "iat": now, "exp": now + 600}
        return jwt.encode(claims, private, algorithm="RS256")

    # an unauthenticated neighbour spends the address's allowance
    assert await statuses(client, 21) == [401] * 20 + [429]
    # valid tokens from it are still checked, within a tenth of the allowance: two
    alice, bob = rs256("alice"), rs256("bob")
    assert (await client.get("/status", headers=bearer(alice))).status == 200
    assert (await client.get("/status", headers=bearer(bob))).status == 200
    assert signature_checks == [alice, bob]
    # past that, neither forged nor valid tokens cost a signature check
    forged = [("Authorization", f"Bearer {rs256('mallory')}x")]
    assert await statuses(client, 3, forged) == [429] * 3
    assert (await client.get("/status", headers=bearer(rs256("carol")))).status == 429
    assert signature_checks == [alice, bob]
    # a token checked before is remembered, and counted under its own identity
    assert (await client.get("/status", headers=bearer(alice))).status == 200
