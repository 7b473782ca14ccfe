"""Findings of the security review, each pinned by a test: no 500 for any token, key document
or body; no auth-off access through a local proxy; no secret file others could have written."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from aiohttp.web_protocol import RequestPayloadError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from polyad.api.bodies import read_json
from polyad.config import load_config
from polyad.errors import BadRequest, ConfigError
from polyad.security.keys import SECRET_FILE, hmac_secret
from polyad.security.windows import SlidingWindows
from polyad.views.schemas import TaskRequest
from tests.conftest import TEST_SECRET, MakeClient, bearer
from tests.security.jwks import jwks_client, token_of_unknown_key


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "x", "scope": "read", "iat": now, "exp": now + 600, **overrides}


async def test_a_token_of_another_key_family_is_401_not_500(
    make_client: MakeClient, tmp_path: Path
) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "rsa.pem"
    pem.write_bytes(rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    client = await make_client(auth={"secret": None, "algorithms": ["RS256", "ES256"],
                                     "public_key": str(pem)}, token=None)
    ec_token = jwt.encode(claims(), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")
    response = await client.get("/status", headers=bearer(ec_token))
    assert response.status == 401
    good = jwt.encode(claims(), rsa_key, algorithm="RS256")
    assert (await client.get("/status", headers=bearer(good))).status == 200


@pytest.mark.parametrize("exp", [10**400, -5, "tomorrow", True])
async def test_an_absurd_exp_is_401_not_500(make_client: MakeClient, exp: Any) -> None:
    client = await make_client(token=None)
    token = jwt.encode(claims(exp=exp), TEST_SECRET, algorithm="HS256")
    assert (await client.get("/status", headers=bearer(token))).status == 401


@pytest.mark.parametrize("document", [[], None, "keys", {"keys": "nope"}, {"keys": [{}]}])
async def test_a_broken_jwks_document_is_401_not_500(
    make_client: MakeClient, aiohttp_server: Any, document: Any
) -> None:
    async def serve(_: web.Request) -> web.Response:
        return web.Response(text=json.dumps(document), content_type="application/json")

    jwks = web.Application()
    jwks.router.add_get("/jwks", serve)
    server = await aiohttp_server(jwks)
    client = await jwks_client(make_client, str(server.make_url("/jwks")))
    assert (await client.get("/status", headers=bearer(token_of_unknown_key()))).status == 401


async def test_a_jwks_redirect_is_not_followed(
    make_client: MakeClient, aiohttp_server: Any
) -> None:
    hits = {"elsewhere": 0}

    async def redirect(_: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    async def elsewhere(_: web.Request) -> web.Response:
        hits["elsewhere"] += 1
        return web.json_response({"keys": []})

    jwks = web.Application()
    jwks.router.add_get("/jwks", redirect)
    jwks.router.add_get("/elsewhere", elsewhere)
    server = await aiohttp_server(jwks)
    client = await jwks_client(make_client, str(server.make_url("/jwks")))
    assert (await client.get("/status", headers=bearer(token_of_unknown_key()))).status == 401
    assert hits["elsewhere"] == 0


CLEAR_TEXT = "expected an https:// URL"
HIDDEN_HOST = "without (user info|a backslash)"


@pytest.mark.parametrize(("url", "refusal"), [
    ("https://idp.example/.well-known/jwks.json", None),
    ("http://127.0.0.1:8080/jwks", None),
    ("http://[::1]:8080/jwks", None),
    ("http://localhost/jwks", None),
    ("http://idp.example/jwks", CLEAR_TEXT),
    ("ftp://idp.example/jwks", CLEAR_TEXT),
    # the host another parser than the HTTP client's would see is not the one fetched from
    ("http://evil.example\\@127.0.0.1/jwks", HIDDEN_HOST),
    ("http://127.0.0.1\\@evil.example/jwks", HIDDEN_HOST),
    ("https://idp.example\\@127.0.0.1/jwks", HIDDEN_HOST),
    ("http://127.0.0.1:80@evil.example/jwks", HIDDEN_HOST),
    ("http://127.0.0.1%2f@evil.example/jwks", HIDDEN_HOST),
    ("https://user:password@idp.example/jwks", HIDDEN_HOST),
    ("http://127.0.0.1.evil.example/jwks", CLEAR_TEXT),
    ("http://evil.example#@127.0.0.1/jwks", CLEAR_TEXT),
    ("http://evil.example?@127.0.0.1/jwks", CLEAR_TEXT),
    ("http:///127.0.0.1/jwks", CLEAR_TEXT),
])
def test_jwks_must_come_over_https_unless_local(url: str, refusal: str | None) -> None:
    auth = {"algorithms": ["ES256"], "jwks_url": url}
    if refusal is None:
        assert load_config(environ={}, overrides={"auth": auth}).auth.jwks_url == url
    else:
        with pytest.raises(ConfigError, match=rf"auth\.jwks_url.*{refusal}"):
            load_config(environ={}, overrides={"auth": auth})


def test_a_secret_file_others_could_write_is_refused(tmp_path: Path) -> None:
    auth = load_config(environ={}).auth
    first = hmac_secret(auth, tmp_path)
    assert hmac_secret(auth, tmp_path) == first  # kept across starts
    path = tmp_path / SECRET_FILE
    path.chmod(0o666)
    with pytest.raises(ConfigError, match="mode 0600"):
        hmac_secret(auth, tmp_path)
    path.unlink()
    os.symlink(tmp_path / "elsewhere", path)
    (tmp_path / "elsewhere").write_text("x" * 64)
    (tmp_path / "elsewhere").chmod(0o600)
    with pytest.raises(ConfigError, match="is a symbolic link: refused"):  # O_NOFOLLOW
        hmac_secret(auth, tmp_path)


def test_a_rate_of_zero_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"rate_limit\.default"):
        load_config(environ={}, overrides={"rate_limit": {"default": "0/minute"}})


def test_the_rates_a_bad_rate_error_suggests_are_accepted() -> None:
    with pytest.raises(ConfigError, match=r"rate_limit\.tasks") as refused:
        load_config(environ={}, overrides={"rate_limit": {"tasks": "10/s"}})
    suggestion = str(refused.value).split("expected", 1)[1].split("got", 1)[0]
    examples = re.findall(r"'([^']+)'", suggestion)
    assert examples
    for example in examples:
        assert load_config(environ={}, overrides={"rate_limit": {"tasks": example}})


def test_the_counter_table_is_bounded_whatever_the_identities() -> None:
    windows = SlidingWindows(max_keys=1000)
    for index in range(5000):
        windows.hit(f"made-up-{index}", 10, 60)
    assert len(windows) <= 1000


async def test_auth_off_refuses_clients_forwarded_by_a_local_proxy(
    make_client: MakeClient,
) -> None:
    client = await make_client(auth={"enabled": False}, token=None)
    assert (await client.get("/status")).status == 200
    for headers in ({"X-Forwarded-For": "198.51.100.99"}, {"Forwarded": "for=203.0.113.5"},
                    {"X-Forwarded-For": "127.0.0.1, 198.51.100.99"}):
        response = await client.get("/status", headers=headers)
        assert response.status == 403, headers
    assert (await client.get("/status", headers={"X-Forwarded-For": "127.0.0.1"})).status == 200


async def test_a_corrupt_compressed_body_is_400_not_500(make_client: MakeClient) -> None:
    client = await make_client()
    for encoding in ("gzip", "deflate"):
        # aiohttp's parser may fail the body first and close the connection itself; when the
        # view gets to read it, the answer is a 400 problem. Never a 500.
        with contextlib.suppress(aiohttp.ServerDisconnectedError):
            response = await client.post("/task", data=b"garbage!!", headers={
                "Content-Type": "application/json", "Content-Encoding": encoding})
            assert response.status == 400, encoding
    good = gzip.compress(json.dumps({"type": "system", "action": "monitor"}).encode())
    response = await client.post("/task", data=good, headers={
        "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert response.status == 202


@pytest.mark.parametrize("failure", [RequestPayloadError("Can not decode content-encoding"),
                                     ConnectionResetError("peer went away")])
async def test_a_body_that_cannot_be_read_is_a_400_problem(failure: Exception) -> None:
    request = make_mocked_request("POST", "/task", headers={"Content-Type": "application/json"})

    async def broken_read() -> bytes:
        raise failure

    request.read = broken_read  # type: ignore[method-assign]
    with pytest.raises(BadRequest, match="could not be read"):
        await read_json(request, TaskRequest)
