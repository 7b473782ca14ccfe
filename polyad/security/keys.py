"""Key material for tokens: the HMAC secret (configured, or made once and kept in state_dir),
a configured public key, or a JWKS endpoint fetched asynchronously and cached.

Public keys need the `cryptography` package, which polyad installs only with its `pubkey` extra:
once imported it holds 8.7 MB of the agent's resident memory (measured with
`python -m bench.profile imports`), and the default HMAC tokens do without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import jwt.algorithms
import structlog

from polyad.config import AuthConfig
from polyad.errors import ConfigError

__all__ = ["SECRET_FILE", "JwksKeys", "hmac_secret", "load_public_key", "require_crypto"]

SECRET_FILE = "auth.secret"  # noqa: S105 - a file name, not a secret
log = structlog.get_logger(logger_name="polyad.security")


def hmac_secret(auth: AuthConfig, state_dir: Path) -> bytes:
    """The configured secret, else the one in state_dir, made (mode 0600) on the first run."""
    if auth.secret is not None:
        return auth.secret.get_secret_value().encode()
    path = state_dir / SECRET_FILE
    with contextlib.suppress(FileNotFoundError):
        return _read_secret(path)
    state_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
    secret = secrets.token_urlsafe(48).encode()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return _read_secret(path)
    with os.fdopen(descriptor, "wb") as file:
        file.write(secret + b"\n")
    log.info("generated a signing secret", path=str(path))
    return secret


def _read_secret(path: Path) -> bytes:
    # Whoever can write this file can mint tokens: it must be ours alone, and no symlink.
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(descriptor, "rb") as file:
        status = os.fstat(file.fileno())
        if status.st_uid != os.geteuid() or status.st_mode & 0o077:
            raise ConfigError(f"{path} must be owned by this user with mode 0600 "
                              f"(it is mode {status.st_mode & 0o777:o}); fix it or delete it")
        secret = file.read().strip()
    if len(secret) < 32:
        raise ConfigError(f"{path} holds a secret shorter than 32 bytes; delete it to make anew")
    return secret


def require_crypto(auth: AuthConfig) -> None:
    """Public-key algorithms without `cryptography` installed: a ConfigError at start that says
    what to install (PyJWT would only fail at the first token)."""
    if auth.public_key_algorithms and not jwt.algorithms.has_crypto:
        raise ConfigError(f"auth.algorithms {auth.public_key_algorithms} need the cryptography "
                          "package: install polyad with its pubkey extra "
                          "(pip install 'polyad[pubkey]')")


def load_public_key(pem_or_path: str) -> Any:
    """A PEM public key given inline or as a file path; a bad one is a ConfigError at start."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    text = pem_or_path
    if "-----BEGIN" not in text:
        try:
            text = Path(text).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"auth.public_key: cannot read {text}: {error.strerror}") from None
    try:
        return load_pem_public_key(text.encode())
    except ValueError:
        raise ConfigError("auth.public_key: not a PEM public key") from None


class JwksKeys:
    """Signing keys from a JWKS URL, by `kid`. An unknown kid triggers a refetch, at most once
    per `min_refresh_s`, so forged kids cannot make the agent hammer the identity provider."""

    def __init__(self, url: str, *, timeout_s: float = 2.0, min_refresh_s: float = 10.0) -> None:
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._min_refresh_s = min_refresh_s
        self._keys: dict[str, Any] = {}
        self._fetched_at_s = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> Any | None:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            stale = time.monotonic() - self._fetched_at_s >= self._min_refresh_s
            if kid not in self._keys and stale:
                await self._refresh()
        return self._keys.get(kid) if kid is not None else self._only_key()

    def _only_key(self) -> Any | None:
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None

    async def _refresh(self) -> None:
        self._fetched_at_s = time.monotonic()
        try:
            # No redirects: the configured URL is the one trusted with the keys.
            async with aiohttp.ClientSession(timeout=self._timeout) as session, \
                    session.get(self._url, allow_redirects=False) as response:
                response.raise_for_status()
                if response.status != 200:
                    raise ValueError(f"status {response.status}")
                document = await response.json(content_type=None)
            if not isinstance(document, dict):
                raise ValueError("not a JWK set")
            key_set = jwt.PyJWKSet.from_dict(document)
        except Exception as error:  # any failure keeps the known keys; a request never 500s
            log.warning("cannot fetch JWKS; keeping the keys known so far", url=self._url,
                        error=type(error).__name__)
            return
        self._keys = {key.key_id or "": key.key for key in key_set.keys}
