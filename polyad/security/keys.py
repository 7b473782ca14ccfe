"""Key material for tokens: the HMAC secret (configured, or made once and kept in state_dir),
a configured public key, or a JWKS endpoint fetched asynchronously and cached.

Public keys need the `cryptography` package, which polyad installs only with its `pubkey` extra:
once imported it holds 8.7 MB of the agent's resident memory (measured with
`python -m bench.profile imports`), and the default HMAC tokens do without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets
import stat
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
_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a named pipe", stat.S_IFSOCK: "a socket",
          stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}


def hmac_secret(auth: AuthConfig, state_dir: Path) -> bytes:
    """The configured secret, else the one in state_dir, made (mode 0600) on the first run."""
    if auth.secret is not None:
        return auth.secret.get_secret_value().encode()
    path = state_dir / SECRET_FILE
    secret = _read_secret(path)
    return secret if secret is not None else _create_secret(path)


def _create_secret(path: Path) -> bytes:
    """Written whole to a draft file, then hard-linked into place. Two first starts at once (a
    `serve` and a `token`) each find either no file or a whole one, never an empty one; and a
    link, unlike a rename, never replaces a file: exactly one secret wins, the other start uses
    it."""
    _make_state_dir(path.parent)
    secret = secrets.token_urlsafe(48).encode()
    draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    try:
        _write_synced(draft, secret + b"\n")
        won = _link_unless_taken(draft, path)
        _sync_directory(path.parent)
    except OSError as error:
        raise ConfigError(f"cannot write the signing secret {path}: "
                          f"{error.strerror or error}; set auth.secret instead") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            draft.unlink()
    if not won:
        theirs = _read_secret(path)
        if theirs is None:
            raise ConfigError(f"{path} was deleted while polyad was making it; start again")
        return theirs
    log.info("generated a signing secret", path=str(path))
    return secret


def _make_state_dir(state_dir: Path) -> None:
    try:
        state_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create state_dir {state_dir}: "
                          f"{error.strerror or error}") from None


def _write_synced(path: Path, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())  # on disk before its name is: a crash leaves no empty secret


def _link_unless_taken(draft: Path, path: Path) -> bool:
    try:
        os.link(draft, path)
    except FileExistsError:  # another start linked its secret first
        return False
    return True


def _sync_directory(directory: Path) -> None:
    # The new name is durable only once its directory is: a secret that signed tokens must
    # survive a crash.
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _read_secret(path: Path) -> bytes | None:
    """The secret in `path`; None when there is no such file. Whoever can write this file can
    mint tokens: it must be a regular file, no symlink, ours alone."""
    try:
        # O_NONBLOCK: a FIFO put there would otherwise hang the start
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ConfigError(_unreadable(path, error)) from None
    try:
        _check_secret_file(path, os.fstat(descriptor))
        secret = _read_to_end(descriptor).strip()
    except OSError as error:
        raise ConfigError(_unreadable(path, error)) from None
    finally:
        os.close(descriptor)
    if len(secret) < 32:
        raise ConfigError(f"{path} holds a secret shorter than 32 bytes; delete it to make anew")
    return secret


def _check_secret_file(path: Path, status: os.stat_result) -> None:
    if not stat.S_ISREG(status.st_mode):
        kind = _KINDS.get(stat.S_IFMT(status.st_mode), "not a regular file")
        raise ConfigError(f"{path} is {kind}, not a file holding the secret; delete it to make "
                          "a secret anew, or set auth.secret")
    if status.st_uid != os.geteuid() or status.st_mode & 0o077:
        raise ConfigError(f"{path} must be owned by this user with mode 0600 "
                          f"(it is mode {status.st_mode & 0o777:o}); fix it or delete it")


def _read_to_end(descriptor: int) -> bytes:
    chunks = []
    while chunk := os.read(descriptor, 4096):
        chunks.append(chunk)
    return b"".join(chunks)


def _unreadable(path: Path, error: OSError) -> str:
    if error.errno == errno.ELOOP:  # what O_NOFOLLOW answers for a symlink
        return (f"{path} is a symbolic link: refused, since whoever can change where it points "
                "can mint tokens; put the secret file itself there (mode 0600), or delete the "
                "link to make a secret anew")
    return f"cannot read {path}: {error.strerror or error}"


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
