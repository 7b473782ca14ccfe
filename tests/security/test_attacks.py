"""The attack suite: every forged, stale, misdirected or malformed token gets 401 (or 403 for a
missing scope), never 200, and no library error text reaches the client."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
import structlog
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from polyad.errors import ConfigError
from polyad.logging import configure_logging
from polyad.security.setup import build_verifier
from tests.conftest import TEST_SECRET, AppClient, MakeClient, bearer, make_token
from tests.conftest import test_config as config_for_test
from tests.security.jwks import jwks_client, token_of_unknown_key

PROBLEM = "application/problem+json"
INVALID = 'Bearer realm="polyad", error="invalid_token"'


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join((b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()),
                     b64(signature)))


def hs256_with(key: bytes, claims: dict[str, Any]) -> str:
    """Signs by hand: PyJWT (rightly) refuses to use a PEM key as an HMAC secret."""
    signing_input = ".".join((b64(b'{"alg":"HS256","typ":"JWT"}'),
                              b64(json.dumps(claims).encode())))
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "mallory", "scope": "read tasks admin", "iat": now, "exp": now + 600,
            **overrides}


def signed(**overrides: Any) -> str:
    return jwt.encode(claims(**overrides), TEST_SECRET, algorithm="HS256")


def tamper_payload(token: str) -> str:
    header, _, signature = token.split(".")
    return ".".join((header, b64(json.dumps(claims(scope="admin", sub="root")).encode()),
                     signature))


def tamper_signature(token: str) -> str:
    head, signature = token.rsplit(".", 1)
    flipped = "A" if signature[0] != "A" else "B"
    return f"{head}.{flipped}{signature[1:]}"


async def assert_unauthorized(client: AppClient, headers: dict[str, str],
                              path: str = "/status") -> None:
    response = await client.get(path, headers=headers)
    assert response.status == 401, await response.text()
    assert response.headers["WWW-Authenticate"] == INVALID
    body = await response.json(content_type=PROBLEM)
    # fixed wording only: nothing of PyJWT's messages ("Signature has expired", …)
    assert body["detail"] in ("the bearer token is not valid",
                              "this endpoint needs an Authorization: Bearer token")


FORGERIES: dict[str, Callable[[], str]] = {
    "alg none": lambda: unsigned({"alg": "none", "typ": "JWT"}, claims()),
    "alg None with a signature": lambda: unsigned({"alg": "None"}, claims(), b"sig"),
    "expired": lambda: signed(exp=int(time.time()) - 3600),
    "not yet valid (nbf)": lambda: signed(nbf=int(time.time()) + 3600),
    "issued in the future (iat)": lambda: signed(iat=int(time.time()) + 3600),
    "no exp": lambda: jwt.encode({"sub": "x", "scope": "read"}, TEST_SECRET, algorithm="HS256"),
    "tampered payload": lambda: tamper_payload(signed()),
    "tampered signature": lambda: tamper_signature(signed()),
    "another secret": lambda: jwt.encode(claims(), "another-secret-that-is-32-bytes-long!",
                                         algorithm="HS256"),
    "HS384 not allowed": lambda: jwt.encode(claims(), TEST_SECRET + "-padded-to-48-bytes",
                                            algorithm="HS384"),
    "garbage": lambda: "garbage",
    "three dots of garbage": lambda: "a.b.c",
    "longer than any token": lambda: "a" * 8_100,
    "scope of the wrong type": lambda: signed(scope={"read": True}),
}


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
async def test_forged_and_invalid_tokens_are_401(make_client: MakeClient,
                                                 forge: Callable[[], str]) -> None:
    client = await make_client(token=None)
    await assert_unauthorized(client, bearer(forge()))


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Bearer  "},
    {"Authorization": f"Basic {b64(b'admin:admin')}"}, {"Authorization": "Token abc"},
    {"Cookie": "token=abc"},
], ids=["none", "empty", "bare scheme", "blank", "basic", "other scheme", "cookie"])
async def test_missing_or_malformed_authorization_is_401(make_client: MakeClient,
                                                         headers: dict[str, str]) -> None:
    client = await make_client(token=None)
    await assert_unauthorized(client, headers)


async def test_a_header_too_large_for_the_parser_is_refused_before_polyad(
    make_client: MakeClient,
) -> None:
    client = await make_client(token=None)
    response = await client.get("/status", headers=bearer("a" * 20_000))
    assert response.status == 400  # aiohttp's parser limit; never a 200


async def test_a_token_in_the_query_string_is_ignored(make_client: MakeClient) -> None:
    client = await make_client(token=None)
    token = make_token()
    for query in (f"access_token={token}", f"token={token}", f"jwt={token}"):
        await assert_unauthorized(client, {}, path=f"/status?{query}")


async def test_issuer_and_audience_are_checked_when_configured(make_client: MakeClient) -> None:
    client = await make_client(auth={"issuer": "https://idp.example", "audience": "polyad"},
                               token=None)
    good = signed(iss="https://idp.example", aud="polyad")
    assert (await client.get("/status", headers=bearer(good))).status == 200
    for bad in (signed(iss="https://evil.example", aud="polyad"),
                signed(iss="https://idp.example", aud="another-service"),
                signed(aud="polyad"), signed(iss="https://idp.example")):
        await assert_unauthorized(client, bearer(bad))


async def test_a_missing_scope_is_403_naming_it(make_client: MakeClient) -> None:
    client = await make_client(token=make_token(scopes=["read"]))
    assert (await client.get("/status")).status == 200
    response = await client.post("/task", json={"type": "system", "action": "monitor"})
    assert response.status == 403
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="polyad", error="insufficient_scope", scope="tasks"')
    assert (await response.json(content_type=PROBLEM))["detail"] == (
        "this token lacks the 'tasks' scope")
    no_read = await make_client(token=make_token(scopes=["tasks"]))
    assert (await no_read.get("/metrics")).status == 403


async def test_open_routes_need_no_token(make_client: MakeClient) -> None:
    client = await make_client(token=None)
    for path in ("/healthz", "/readyz", "/openapi.json"):
        assert (await client.get(path)).status == 200, path
    for path in ("/status", "/metrics", "/metrics/prom", "/cache"):
        assert (await client.get(path)).status == 401, path


def rsa_keys(tmp_path: Path) -> tuple[rsa.RSAPrivateKey, Path]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    path = tmp_path / "idp.pem"
    path.write_bytes(pem)
    return private, path


async def test_rs256_with_a_public_key_and_no_hs_rs_confusion(
    make_client: MakeClient, tmp_path: Path
) -> None:
    private, pem_path = rsa_keys(tmp_path)
    client = await make_client(auth={"secret": None, "algorithms": ["RS256"],
                                     "public_key": str(pem_path)}, token=None)
    good = jwt.encode(claims(), private, algorithm="RS256")
    assert (await client.get("/status", headers=bearer(good))).status == 200
    # the classic confusion: HS256 "signed" with the public key as the HMAC secret
    await assert_unauthorized(client, bearer(hs256_with(pem_path.read_bytes(), claims())))
    await assert_unauthorized(client, bearer(signed()))  # the HMAC secret means nothing here
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    await assert_unauthorized(client, bearer(jwt.encode(claims(), other, algorithm="RS256")))


@pytest.fixture
async def jwks_server(
    aiohttp_server: Any,
) -> tuple[str, ec.EllipticCurvePrivateKey, dict[str, int]]:
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    fetches = {"count": 0}

    async def keys(_: web.Request) -> web.Response:
        fetches["count"] += 1
        return web.json_response({"keys": [{**jwk, "kid": "key-1", "use": "sig",
                                            "alg": "ES256"}]})

    app = web.Application()
    app.router.add_get("/jwks.json", keys)
    server = await aiohttp_server(app)
    return str(server.make_url("/jwks.json")), private, fetches


async def test_es256_from_a_jwks_url_with_kid_and_a_bounded_refetch(
    make_client: MakeClient,
    jwks_server: tuple[str, ec.EllipticCurvePrivateKey, dict[str, int]],
) -> None:
    url, private, fetches = jwks_server
    client = await make_client(auth={"secret": None, "algorithms": ["ES256"], "jwks_url": url},
                               token=None)
    good = jwt.encode(claims(), private, algorithm="ES256", headers={"kid": "key-1"})
    assert (await client.get("/status", headers=bearer(good))).status == 200
    unknown = jwt.encode(claims(sub="u"), private, algorithm="ES256", headers={"kid": "nope"})
    for _ in range(5):  # forged kids must not make the agent hammer the identity provider
        await assert_unauthorized(client, bearer(unknown))
    assert fetches["count"] <= 2


async def test_an_unreachable_jwks_url_is_a_quick_401(make_client: MakeClient) -> None:
    client = await jwks_client(make_client, "http://127.0.0.1:1/jwks.json")
    started = time.monotonic()
    await assert_unauthorized(client, bearer(token_of_unknown_key()))
    assert time.monotonic() - started < 3


async def test_no_token_or_secret_reaches_the_logs(
    make_client: MakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client = await make_client(token=None, logging={"level": "debug"})
    configure_logging("debug", "json")  # the real pipeline, writing where capsys reads
    try:
        tokens = [forge() for forge in FORGERIES.values()] + [make_token()]
        for token in tokens:
            await client.get("/status", headers=bearer(token))
            await client.get(f"/status?access_token={token}")
        await client.get("/status", headers=bearer(make_token() + "x" * 9000))  # parser error
        await client.post("/task", json={"type": "x", "action": "y",
                                         "data": {"password": TEST_SECRET}})
        logged = capsys.readouterr().err
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers = []
    assert logged.count('"event":"request"') >= 2 * len(tokens)
    assert TEST_SECRET not in logged
    for token in tokens:
        if len(token) > 16:
            assert token not in logged
    assert "eyJ" not in logged


def test_public_key_auth_without_cryptography_stops_the_start_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, pem_path = rsa_keys(tmp_path)
    config = config_for_test(tmp_path, auth={"secret": None, "algorithms": ["RS256", "ES256"],
                                             "public_key": str(pem_path)})
    monkeypatch.setattr(jwt.algorithms, "has_crypto", False)  # as when it is not installed
    with pytest.raises(ConfigError, match=r"\['ES256', 'RS256'\] need the cryptography package"
                                          r".*pip install 'polyad\[pubkey\]'"):
        build_verifier(config)
