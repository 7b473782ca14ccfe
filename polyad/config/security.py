"""Configuration of the agent's defences: tokens, rate limits, CORS, and the Redis they share."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from yarl import URL

from polyad.config.base import Seconds, SecondsOrZero, Section
from polyad.units import parse_rate

__all__ = ["HMAC_ALGORITHMS", "MIN_SECRET_BYTES", "AuthConfig", "CorsConfig", "ForwardedHeader",
           "RateLimitConfig", "RedisConfig", "RedisTlsConfig"]


HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
Algorithm = Literal["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384",
                    "PS256"]  # "none" is not among them, on purpose
MIN_SECRET_BYTES = 32
_HMAC_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
# The header a trusted proxy writes the client's address into (also its name, for aiohttp).
ForwardedHeader = Literal["x-forwarded-for", "forwarded"]


class AuthConfig(Section):
    enabled: bool = True
    """Require a bearer token (off: this machine only is served)."""
    algorithms: list[Algorithm] = Field(default_factory=lambda: list[Algorithm](["HS256"]),
                                        min_length=1)
    """The token signatures accepted."""
    secret: SecretStr | None = None
    """The HMAC signing secret; none: one is made and kept in state_dir."""
    public_key: str | None = None
    """A PEM public key, or its file, for RS*/ES*/PS* tokens."""
    jwks_url: str | None = None
    """Or an HTTPS URL of the issuer's keys (JWKS)."""
    issuer: str | None = None
    """A token's iss must be this, when set."""
    audience: str | None = None
    """A token's aud must hold this, when set."""
    leeway: Annotated[SecondsOrZero, Field(le=300)] = 30.0
    """Clock skew allowed on exp, nbf and iat."""
    # A verified token is remembered this long (never past its exp) to keep requests fast.
    cache_ttl: Annotated[SecondsOrZero, Field(le=300)] = 30.0
    """A verified token is remembered this long (never past its exp)."""
    # With server.tls.client_ca_file: a client certificate's subject (as "CN=prometheus" or
    # "CN=prometheus,O=ops", the RFC 4514 names of its attributes, in the certificate's order)
    # stands in for a token with these scopes, the way Prometheus scrapes with mTLS alone.
    client_cert_scopes: dict[Annotated[str, Field(min_length=3)],
                             list[Literal["read", "tasks", "admin"]]] = Field(
        default_factory=dict)
    """Client certificate subjects (CN=prometheus) that stand in for a token, and their
    scopes; needs server.tls.client_ca_file."""

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, secret: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # RFC 7518 3.2: a key at least as long as the hash (32, 48, 64 bytes for HS256/384/512)
        algorithms = info.data.get("algorithms") or ["HS256"]
        needed = max([MIN_SECRET_BYTES] + [_HMAC_KEY_BYTES.get(a, 0) for a in algorithms])
        if secret is not None and len(secret.get_secret_value().encode()) < needed:
            raise ValueError(f"expected at least {needed} bytes for {', '.join(algorithms)}")
        return secret

    @field_validator("jwks_url")
    @classmethod
    def _trusted_transport(cls, url: str | None) -> str | None:
        if url is not None:
            _check_jwks_url(url)
        return url

    @model_validator(mode="after")
    def _keys_match_algorithms(self) -> AuthConfig:
        hmac = HMAC_ALGORITHMS.intersection(self.algorithms)
        asymmetric = self.public_key_algorithms
        has_public_key = self.public_key is not None or self.jwks_url is not None
        if hmac and has_public_key:
            raise ValueError(f"algorithms {sorted(hmac)} cannot be allowed with a public key: "
                             "a token signed with the public key as HMAC secret would pass")
        if asymmetric and not has_public_key:
            raise ValueError(f"algorithms {asymmetric} need public_key or jwks_url")
        return self

    @property
    def uses_hmac(self) -> bool:
        return bool(HMAC_ALGORITHMS.intersection(self.algorithms))

    @property
    def public_key_algorithms(self) -> list[str]:
        """The allowed RS*/ES*/PS* algorithms, sorted."""
        return sorted(set(self.algorithms) - HMAC_ALGORITHMS)


def _check_jwks_url(text: str) -> None:
    """Judged on the URL as the HTTP client (aiohttp, through yarl) will read it: another
    parser can disagree on the host (`http://evil.example\\@127.0.0.1/` is 127.0.0.1 to
    urllib, and evil.example to a WHATWG parser)."""
    # the loader imports this module: a top-level import of it would be circular
    from polyad.config.load import is_loopback

    if "\\" in text:
        raise ValueError("expected a URL without a backslash (parsers disagree on its host)")
    try:
        url = URL(text)
    except ValueError as error:
        raise ValueError(f"expected a URL the HTTP client can read ({error})") from None
    if url.raw_user is not None or url.raw_password is not None:
        raise ValueError("expected a URL without user info (it hides the host)")
    local_http = url.scheme == "http" and url.host is not None and is_loopback(url.host)
    if url.host is None or not (url.scheme == "https" or local_http):
        # keys fetched in clear text could be swapped by anyone on the path
        raise ValueError("expected an https:// URL (http:// only for a loopback host)")


def _rate(text: str) -> str:
    parse_rate(text)
    return text


Rate = Annotated[str, AfterValidator(_rate)]


class RateLimitConfig(Section):
    enabled: bool = True
    """Limit requests per identity (a token's subject, else the address)."""
    storage: Literal["memory", "redis"] = "memory"
    """Count in memory (per agent) or in Redis (fleet-wide)."""
    default: Rate = "600/minute"
    """Requests allowed per identity, e.g. 600/minute."""
    tasks: Rate = "60/minute"
    """Task submissions allowed per identity, on top of the default."""
    # The forwarding header is believed only from these peers (a reverse proxy on this host,
    # say), and only the one header the proxy writes: a client could send the other one.
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    """Networks of reverse proxies whose forwarded header names the client."""
    forwarded_header: ForwardedHeader = "x-forwarded-for"
    """The header those proxies write the client's address into."""


def _origin(text: str) -> str:
    if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?", text):
        raise ValueError(f"expected an origin like 'https://grafana.example.com', got {text!r}")
    return text


class CorsConfig(Section):
    allow_origins: list[Annotated[str, AfterValidator(_origin)]] = Field(default_factory=list)
    """Origins whose pages may call the API from a browser; none: no CORS headers."""


def _redis_url(url: str) -> str:
    parsed = URL(url)
    if parsed.scheme not in ("redis", "rediss", "unix") or (
            parsed.scheme != "unix" and not parsed.host):
        raise ValueError("expected redis://host:port/db, rediss://… (TLS) or unix://path")
    return url


def _host_port(text: str) -> str:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected host:port, e.g. 10.0.0.5:26379")
    return text


class RedisTlsConfig(Section):
    """For a rediss:// URL: the CA that signed the server's certificate (default: the
    system's), and a client certificate and key where the server asks for one."""

    ca_file: Path | None = None
    """The CA that signed the server's certificate (default: the system's)."""
    cert_file: Path | None = None
    """A client certificate, where the server asks for one."""
    key_file: Path | None = None
    """Its key."""

    @model_validator(mode="after")
    def _cert_with_key(self) -> RedisTlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class RedisConfig(Section):
    """The one Redis an agent talks to (polyad/redis_link.py), when any part is set to use it:
    `cache.backend`, `rate_limit.storage` or `tasks.backend` `redis`."""

    url: Annotated[str, AfterValidator(_redis_url)] = "redis://127.0.0.1:6379/0"
    """redis://host:port/db, rediss:// for TLS, or unix://path; a user and password may be in it."""
    prefix: str = "polyad:"
    """Every key the agent writes starts with this."""
    # Every command and every connection attempt waits at most this: a Redis that hangs is
    # noticed within it, and the parts fall back (cache, rate limits) or answer 503 (tasks).
    timeout: Annotated[Seconds, Field(le=30)] = 1.0
    """Each command waits at most this (with tasks on Redis, at most tasks.lease/3)."""
    connect_timeout: Annotated[Seconds, Field(le=30)] = 1.0
    """Each connection attempt waits at most this."""
    max_connections: int = Field(default=64, ge=2, le=10_000)
    """The agent's one pool; past it a call waits up to timeout."""
    # An ACL user (Redis 6+): here, or in the URL (redis://user:password@host/0). The password
    # also from POLYAD_REDIS__PASSWORD, or read from a file (a mounted secret) at start.
    username: str | None = Field(default=None, min_length=1)
    """An ACL user."""
    password: SecretStr | None = None
    """Its password (or POLYAD_REDIS__PASSWORD); never logged."""
    password_file: Path | None = None
    """Or read it from this file at start."""
    tls: RedisTlsConfig = RedisTlsConfig()
    """For rediss:// URLs."""
    # Redis Sentinel: the sentinels to ask where `sentinel_master`'s primary is now; the URL's
    # host and port are then not used (its db, user and password are).
    sentinels: list[Annotated[str, AfterValidator(_host_port)]] = Field(default_factory=list)
    """Redis Sentinel: host:port of each sentinel to ask where the primary is."""
    sentinel_master: str | None = Field(default=None, min_length=1)
    """The name the sentinels watch."""
    # A task is accepted (202) only once this many replicas have its submission (WAIT): with a
    # replica behind Sentinel, 1 keeps every accepted task through a failover.
    replicas_to_ack: int = Field(default=0, ge=0, le=16)
    """A task is accepted only once this many replicas have it (WAIT)."""

    @model_validator(mode="after")
    def _consistent(self) -> RedisConfig:
        if self.password is not None and self.password_file is not None:
            raise ValueError("password and password_file: set one")
        if bool(self.sentinels) != (self.sentinel_master is not None):
            raise ValueError("sentinels and sentinel_master go together")
        if self.tls.model_fields_set and URL(self.url).scheme != "rediss":
            raise ValueError("tls settings need a rediss:// url")
        return self


