"""Shared fixtures: test configuration, tokens, and a client on the real app factory."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient

from polyad.api.app import create_app
from polyad.config import Config, RedisConfig, load_config
from polyad.health import HealthBoard
from polyad.redis_link import RedisLink
from polyad.security.tokens import SCOPES, issue_token

if TYPE_CHECKING:
    from tests.redis_server import PrivateRedis

AppClient = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[AppClient]]

TEST_SECRET = "polyad-tests-only-secret-0123456789abcdef"
REDIS_URL = "redis://127.0.0.1:6379/15"  # a database of the tests' own


def test_config(tmp_path: Path, **overrides: Any) -> Config:
    auth = {"secret": TEST_SECRET, **overrides.pop("auth", {})}
    return load_config(environ={}, overrides={"state_dir": str(tmp_path), "auth": auth,
                                              **overrides})


def make_token(scopes: Iterable[str] = SCOPES, *, ttl_s: float = 3600, subject: str = "tester",
               config: Config | None = None) -> str:
    auth = (config or load_config(environ={}, overrides={"auth": {"secret": TEST_SECRET}})).auth
    return issue_token(auth, TEST_SECRET.encode(), subject=subject, scopes=scopes, ttl_s=ttl_s)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def make_client(aiohttp_client: Any, tmp_path: Path) -> MakeClient:
    """Start the real app with configuration overrides; the client carries an all-scopes token
    unless `token` says otherwise (None: no Authorization header)."""

    async def make(*, use_collectors: Sequence[Any] | None = None,
                   token: str | None = "default", **overrides: Any) -> AppClient:
        config = test_config(tmp_path, **overrides)
        if token == "default":
            token = make_token(config=config)
        headers = bearer(token) if token is not None else {}
        client: AppClient = await aiohttp_client(create_app(config, collectors=use_collectors),
                                                 headers=headers)
        return client

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> AppClient:
    return await make_client()


@pytest.fixture
def fixture_host(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The made-up host's trees (tests/fixtures/host), as the `host` config section; psutil's
    process-wide procfs path, which the collectors point at them, is restored afterwards."""
    from tests.fixtures.make_host import ROOT

    monkeypatch.setattr(psutil, "PROCFS_PATH", psutil.PROCFS_PATH)
    return {"procfs": str(ROOT / "proc"), "sysfs": str(ROOT / "sys"), "rootfs": str(ROOT / "root")}


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of this test's own, to stop, pause or kill (never the shared one)."""
    from tests.redis_server import PrivateRedis  # it imports this module's neighbours

    server = PrivateRedis(tmp_path)
    yield server
    server.kill()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own on the tests' Redis database; its keys go afterwards."""
    prefix = f"polyad-test-{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = aioredis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def link_to(url: str, prefix: str = "polyad-test:", health: HealthBoard | None = None,
            **settings: Any) -> RedisLink:
    """The agent's Redis link (one client, one outage state) to `url`, as the app makes it."""
    return RedisLink(RedisConfig(url=url, prefix=prefix, **settings), health or HealthBoard())


@pytest.fixture
async def redis_link(redis_prefix: str) -> AsyncIterator[RedisLink]:
    """A link to the tests' Redis database, under this test's own prefix; closed afterwards."""
    link = link_to(REDIS_URL, redis_prefix)
    yield link
    await link.close()
