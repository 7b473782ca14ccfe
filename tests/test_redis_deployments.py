"""Redis as deployed, against real servers the tests start: TLS with certificates the test
makes (and a client certificate where the server asks for one), an ACL user with its password
from the URL, the config, the environment or a file (never in a log line or /status), and a
Sentinel set-up whose primary is killed: the agent follows the failover."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from polyad.api.keys import HEALTH
from polyad.config import RedisConfig, load_config
from polyad.errors import ConfigError
from polyad.health import HealthBoard
from polyad.redis_link import RedisLink
from tests.agent_process import free_port
from tests.certificates import Authority
from tests.conftest import MakeClient
from tests.redis_server import PrivateRedis

PASSWORD = "acl-pass-0123456789"  # the test server's, made here


def tls_redis(directory: Path, authority: Authority, *, clients: str) -> PrivateRedis:
    server = authority.issue("redis-server")
    port = free_port()
    context = ssl.create_default_context(cafile=authority.ca_file)
    if clients == "yes":
        client = authority.issue("probe", server=False)
        context.load_cert_chain(client.cert_file, client.key_file)
    return PrivateRedis(directory, port=port, tls=context, args=[
        "--port", "0", "--tls-port", str(port), "--tls-cert-file", str(server.cert_file),
        "--tls-key-file", str(server.key_file), "--tls-ca-cert-file", str(authority.ca_file),
        "--tls-auth-clients", clients])


def redis_config(**settings: Any) -> RedisConfig:
    """Validated as from a file: durations, paths and secrets from plain values."""
    return RedisConfig.model_validate(settings)


async def reaches(config: RedisConfig) -> tuple[bool, HealthBoard]:
    """Whether a link made from `config` can write and read back, and what its health says."""
    health = HealthBoard()
    link = RedisLink(config, health)
    try:
        if not await link.ping():
            return False, health
        await link.client.set("polyad-test:deploy", "1", px=10_000)
        return await link.client.get("polyad-test:deploy") == "1", health
    finally:
        await link.close()


@pytest.fixture
def servers() -> Iterator[list[PrivateRedis]]:
    started: list[PrivateRedis] = []
    yield started
    for server in started:
        server.kill()


def started_tls_redis(directory: Path, servers: list[PrivateRedis], *,
                      clients: str) -> tuple[Authority, PrivateRedis]:
    authority = Authority(directory)
    server = tls_redis(directory, authority, clients=clients)
    servers.append(server)
    server.start()
    return authority, server


async def test_tls_with_the_ca_that_signed_the_server(
    tmp_path: Path, servers: list[PrivateRedis],
) -> None:
    authority, server = started_tls_redis(tmp_path, servers, clients="no")
    ok, health = await reaches(redis_config(url=server.url, tls={"ca_file": authority.ca_file}))
    assert ok and health.components()["redis"].detail == f"rediss://127.0.0.1:{server.port}/0"
    # a server signed by another CA is refused, and said to be unreachable
    (tmp_path / "other").mkdir()
    stranger = Authority(tmp_path / "other", "another CA")
    refused, health = await reaches(redis_config(url=server.url,
                                                tls={"ca_file": stranger.ca_file}))
    assert not refused and not health.components()["redis"].ok


async def test_tls_with_a_client_certificate_where_the_server_asks_for_one(
    tmp_path: Path, servers: list[PrivateRedis],
) -> None:
    authority, server = started_tls_redis(tmp_path, servers, clients="yes")
    agent = authority.issue("agent", server=False)
    assert (await reaches(redis_config(url=server.url, tls={
        "ca_file": authority.ca_file, "cert_file": agent.cert_file,
        "key_file": agent.key_file})))[0]
    assert not (await reaches(redis_config(url=server.url,
                                          tls={"ca_file": authority.ca_file})))[0]


@pytest.fixture
def acl_redis(tmp_path: Path, servers: list[PrivateRedis]) -> PrivateRedis:
    """Its default user off; `agent` may use every key and channel."""
    server = PrivateRedis(tmp_path, args=["--user", "default", "off", "--user", "agent", "on",
                                          f">{PASSWORD}", "~*", "&*", "+@all"])
    servers.append(server)
    server.start()
    return server


async def test_an_acl_user_from_the_url_the_config_the_environment_or_a_file(
    acl_redis: PrivateRedis, tmp_path: Path,
) -> None:
    host = f"127.0.0.1:{acl_redis.port}/0"
    password_file = tmp_path / "redis-password"
    password_file.write_text(PASSWORD + "\n")      # as a mounted secret has it
    configs = [
        redis_config(url=f"redis://agent:{PASSWORD}@{host}"),
        redis_config(url=f"redis://{host}", username="agent", password=PASSWORD),
        load_config(environ={"POLYAD_REDIS__URL": f"redis://{host}",
                             "POLYAD_REDIS__USERNAME": "agent",
                             "POLYAD_REDIS__PASSWORD": PASSWORD}).redis,
        redis_config(url=f"redis://{host}", username="agent", password_file=password_file),
    ]
    for config in configs:
        assert (await reaches(config))[0], config


async def test_a_wrong_password_is_an_outage_that_names_no_password(
    acl_redis: PrivateRedis,
) -> None:
    with capture_logs() as logs:
        ok, health = await reaches(redis_config(url=f"redis://127.0.0.1:{acl_redis.port}/0",
                                               username="agent", password="wrong-" + PASSWORD))
    assert not ok
    detail = health.components()["redis"].detail or ""
    assert "AuthenticationError" in detail or "unreachable" in detail
    assert PASSWORD not in f"{logs} {health.components()}"


def test_an_unreadable_password_file_stops_the_start_with_one_line(tmp_path: Path) -> None:
    config = redis_config(password_file=tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"redis\.password_file: cannot read .*missing"):
        RedisLink(config, HealthBoard())


# -- Sentinel ------------------------------------------------------------------------------
class PrivateSentinel:
    """One sentinel watching `primary` as `master`, quick to fail over (half a second)."""

    def __init__(self, directory: Path, master: str, primary: PrivateRedis) -> None:
        self.port = free_port()
        directory.mkdir(exist_ok=True)
        self.config = directory / "sentinel.conf"   # a sentinel rewrites its own file
        self.config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {directory}\n"
            f"sentinel monitor {master} 127.0.0.1 {primary.port} 1\n"
            f"sentinel down-after-milliseconds {master} 500\n"
            f"sentinel failover-timeout {master} 2000\n")
        self._process: subprocess.Popen[bytes] | None = None
        self.probe = PrivateRedis(directory, port=self.port)   # only its readiness check

    def start(self) -> None:
        self._process = subprocess.Popen(["redis-server", str(self.config), "--sentinel"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self.probe.answers():
            if time.monotonic() > deadline:
                raise RuntimeError("the sentinel did not answer")
            time.sleep(0.02)

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(5)


async def finished(client: Any, task_id: str) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        view: dict[str, Any] = await (await client.get(f"/task/{task_id}")).json()
        if view.get("status") in ("succeeded", "failed", "cancelled"):
            return view
        assert asyncio.get_running_loop().time() < deadline, view
        await asyncio.sleep(0.05)


NOOP = {"type": "system", "action": "noop", "data": {"seconds": 0}}


async def replicating(replica: PrivateRedis) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(replica.url, decode_responses=True)
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while (await client.info("replication")).get("master_link_status") != "up":
            assert asyncio.get_running_loop().time() < deadline, "the replica did not sync"
            await asyncio.sleep(0.05)
    finally:
        await client.aclose()


async def accepted_when_replicated(client: Any) -> str:
    """A submission's 202, once a replica acknowledges again; each 503 before says why: no
    replica yet, or Redis away for a moment (the sentinel drops the primary's clients when it
    makes the returning server its replica: seen once on a loaded 2-core run)."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        response = await client.post("/task", json=NOOP)
        body: dict[str, Any] = await response.json()
        if response.status == 202:
            return str(body["task_id"])
        assert response.status == 503, body
        assert "replicas" in body["detail"] or "cannot be reached" in body["detail"], body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.2)


async def status_of(client: Any) -> dict[str, Any]:
    body: dict[str, Any] = await (await client.get("/status")).json()
    return body


async def test_the_agent_follows_a_sentinel_failover(
    make_client: MakeClient, tmp_path: Path, servers: list[PrivateRedis],
) -> None:
    (tmp_path / "primary").mkdir()
    (tmp_path / "replica").mkdir()
    primary = PrivateRedis(tmp_path / "primary")
    servers.append(primary)
    primary.start()
    replica = PrivateRedis(tmp_path / "replica",
                           args=["--replicaof", "127.0.0.1", str(primary.port)])
    servers.append(replica)
    replica.start()
    await replicating(replica)
    sentinel = PrivateSentinel(tmp_path / "sentinel", "polyad-test", primary)
    sentinel.start()
    try:
        client = await make_client(
            tasks={"backend": "redis", "lease": "3s"}, cache={"backend": "redis"},
            rate_limit={"storage": "redis", "default": "100000/minute"},
            redis={"sentinels": [f"127.0.0.1:{sentinel.port}"],
                   "sentinel_master": "polyad-test", "prefix": "polyad-test-sentinel:",
                   "replicas_to_ack": 1})
        health = client.app[HEALTH]
        assert (await client.get("/cache")).status == 200    # counted through the Sentinel
        assert health.components()["redis"].ok and health.components()["rate_limit"].ok
        assert "polyad-test/0 via sentinels" in (health.components()["redis"].detail or "")
        first = await (await client.post("/task", json=NOOP)).json()
        primary.kill()
        seen_degraded = False
        deadline = asyncio.get_running_loop().time() + 60
        while True:   # the upkeep's next renewal meets the dead primary; the sentinel promotes
            ok = health.components()["redis"].ok
            seen_degraded = seen_degraded or not ok
            if seen_degraded and ok:
                break
            assert asyncio.get_running_loop().time() < deadline, health.components()
            await asyncio.sleep(0.05)
        assert (await status_of(client))["components"]["redis"]["status"] == "ok"
        # the promoted replica has no replica of its own: no submission can be kept safe
        refused = await client.post("/task", json=NOOP)
        assert refused.status == 503
        assert "reached 0 of 1 replicas" in (await refused.json())["detail"]
        primary.start()             # back: the sentinel makes it the new primary's replica
        task_id = await accepted_when_replicated(client)
        for waited in (first["task_id"], task_id):     # accepted before, and after
            view = await finished(client, waited)
            assert view["status"] == "succeeded", view
    finally:
        sentinel.kill()
