"""The agent's one Redis client, made from `redis.*`: the only place a redis-py client is made.

A plain Redis (`redis://`), one over TLS (`rediss://`, with the CA and client certificate of
`redis.tls`), or the primary that Redis Sentinel names (`redis.sentinels`, asked again on each
new connection, so a failover is followed). An ACL user and password from the URL or from
`redis.username`/`redis.password`/`redis.password_file`. One pool, one timeout per command, one
retry on a fresh connection (pooled ones die when the server restarts), not redis-py's default
retries with backoff: a Redis that is down must be noticed at once.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from yarl import URL

from polyad.config import RedisConfig, read_setting_file
from polyad.errors import ConfigError

__all__ = ["CLIENT_NAME", "Client", "describe", "redis_client"]

Client = aioredis.Redis                 # what the parts hold
# Each connection says whose it is in Redis' CLIENT LIST: polyad, which host, which process.
CLIENT_NAME = "polyad:" + re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) + f":{os.getpid()}"


def redis_client(config: RedisConfig, timeout_s: float | None = None) -> Client:
    """`timeout_s`: what a command may wait, when not redis.timeout. A password file that
    cannot be read is a ConfigError (the agent does not start)."""
    timeout = timeout_s or config.timeout
    options: dict[str, Any] = {
        "socket_timeout": timeout, "socket_connect_timeout": config.connect_timeout,
        "retry": Retry(NoBackoff(), 1), "decode_responses": True, "client_name": CLIENT_NAME,
        **_credentials(config), **_tls(config)}
    if config.sentinels:
        return _through_sentinels(config, options)
    pool = aioredis.BlockingConnectionPool.from_url(
        config.url, max_connections=config.max_connections, timeout=timeout, **options)
    return aioredis.Redis(connection_pool=pool)


def describe(config: RedisConfig) -> str:
    """Where it goes, for logs and /status: never a user or a password."""
    parsed = URL(config.url)
    database = parsed.path if parsed.path not in ("", "/") else ""
    if config.sentinels:
        return f"{config.sentinel_master}{database} via sentinels {','.join(config.sentinels)}"
    if parsed.scheme == "unix":
        return f"unix:{parsed.path}"
    return f"{parsed.scheme}://{parsed.host}:{parsed.port or 6379}{database}"


def _credentials(config: RedisConfig) -> dict[str, str]:
    """Those set in `redis.*` (the URL's own are taken by redis-py)."""
    found: dict[str, str] = {}
    if config.username is not None:
        found["username"] = config.username
    if config.password is not None:
        found["password"] = config.password.get_secret_value()
    elif config.password_file is not None:
        found["password"] = _read_password(config.password_file)
    return found


def _read_password(path: Path) -> str:
    password = read_setting_file("redis.password_file", path).strip()
    if not password:
        raise ConfigError(f"redis.password_file: {path} is empty")
    return password


def _tls(config: RedisConfig) -> dict[str, Any]:
    tls = config.tls
    if URL(config.url).scheme != "rediss":
        return {}
    options: dict[str, Any] = {"ssl_cert_reqs": "required"}
    if tls.ca_file is not None:
        options["ssl_ca_certs"] = str(tls.ca_file)
    if tls.cert_file is not None and tls.key_file is not None:
        options |= {"ssl_certfile": str(tls.cert_file), "ssl_keyfile": str(tls.key_file)}
    if config.sentinels:
        options["ssl"] = True       # the URL is not used to make connections then
    return options


def _through_sentinels(config: RedisConfig, options: dict[str, Any]) -> Client:
    parsed = URL(config.url)
    database = int(parsed.path.strip("/") or 0)
    credentials = {"username": parsed.user, "password": parsed.password} if parsed.user else {}
    addresses = [(host, int(port)) for host, _, port in
                 (sentinel.rpartition(":") for sentinel in config.sentinels)]
    sentinel = Sentinel(addresses, min_other_sentinels=0, sentinel_kwargs={
        "socket_timeout": options["socket_timeout"],
        "socket_connect_timeout": options["socket_connect_timeout"]})
    # redis-py has no blocking pool for Sentinel: one past a bound would raise "too many
    # connections" (taken for an outage), so this pool is not bounded
    assert config.sentinel_master is not None   # the configuration has both, or neither
    client: Client = sentinel.master_for(
        config.sentinel_master, redis_class=aioredis.Redis,
        connection_pool_class=SentinelConnectionPool, db=database, **(credentials | options))
    return client
