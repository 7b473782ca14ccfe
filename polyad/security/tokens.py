"""JWT verification and issuing. Verified tokens are remembered briefly by their digest."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jwt

from polyad.config import AuthConfig
from polyad.config.security import HMAC_ALGORITHMS
from polyad.security.keys import JwksKeys

__all__ = ["SCOPES", "Identity", "InvalidToken", "TokenVerifier", "issue_token"]

SCOPES = ("read", "tasks", "admin")
MAX_TOKEN_CHARS = 8192
_CACHE_ENTRIES = 4096
_LATEST_EXP = 2**40  # about year 36812: anything beyond is not a real expiry


@dataclass(frozen=True, slots=True)
class Identity:
    subject: str          # who: the rate-limit key, and what logs show
    scopes: frozenset[str]
    expires_at: float     # epoch seconds


class InvalidToken(Exception):
    """The reason is for the log only; clients learn no more than "invalid_token"."""


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    scope = claims.get("scope", claims.get("scp", ""))
    if isinstance(scope, str):
        return frozenset(scope.split())
    if isinstance(scope, list) and all(isinstance(item, str) for item in scope):
        return frozenset(scope)
    raise InvalidToken("scope claim is neither a string nor a list of strings")


class TokenVerifier:
    def __init__(self, auth: AuthConfig, *, secret: bytes | None = None,
                 public_key: Any | None = None, jwks: JwksKeys | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._auth = auth
        self._secret = secret
        self._public_key = public_key
        self._jwks = jwks
        self._clock = clock
        self._verified: OrderedDict[bytes, tuple[Identity, float]] = OrderedDict()

    async def verify(
        self, token: str, before_costly_check: Callable[[], Awaitable[None]] | None = None,
    ) -> Identity:
        """The token's identity. `before_costly_check` runs before a public-key signature is
        checked (or keys fetched) for a token not cached; it may raise to refuse the work."""
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("token too long")
        digest = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        cached = self._verified.get(digest)
        if cached is not None and now < cached[1]:
            return cached[0]
        if before_costly_check is not None and not self._checks_cost_little:
            await before_costly_check()
        identity = self._identity(self._decode(token, await self._key(token)), digest)
        self._remember(digest, identity, now)
        return identity

    @property
    def _checks_cost_little(self) -> bool:
        # Measured (PyJWT 2.15, a small 2-core VM): an HS256 check 75-95 µs, of which the HMAC
        # is 5 µs; ES256 175-300 µs, ES384 940, RS256 100-165 (4096-bit key: 220), PS256
        # 160-270; a 429 about 500 µs of CPU, client included. Checking every HMAC token adds
        # a fifth to a third to what a forged one costs, and lets valid ones through from an
        # address a flooder shares; a public-key check could triple it, so it is rationed.
        return self._secret is not None

    def _decode(self, token: str, key: Any) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=list(self._auth.algorithms),
                issuer=self._auth.issuer, audience=self._auth.audience,
                leeway=self._auth.leeway, options={"require": ["exp"]},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(type(error).__name__) from None
        except (TypeError, ValueError, KeyError, OverflowError) as error:
            # e.g. an RS256 header against an EC key: PyJWT raises outside its own hierarchy
            raise InvalidToken(f"unusable token for this key: {type(error).__name__}") from None
        return claims

    async def _key(self, token: str) -> Any:
        if self._secret is not None:
            return self._secret
        if self._jwks is not None:
            try:
                kid = jwt.get_unverified_header(token).get("kid")
            except jwt.PyJWTError:
                raise InvalidToken("unreadable header") from None
            key = await self._jwks.key(kid if isinstance(kid, str) else None)
            if key is not None:
                return key
        if self._public_key is None:
            raise InvalidToken("no key for this token")
        return self._public_key

    def _identity(self, claims: dict[str, Any], digest: bytes) -> Identity:
        subject = claims.get("sub")
        if subject is not None and not isinstance(subject, str):
            raise InvalidToken("sub is not a string")
        expires_at = claims["exp"]
        if isinstance(expires_at, bool) or not isinstance(expires_at, int | float) or not (
                0 < expires_at < _LATEST_EXP):
            raise InvalidToken("exp out of range")
        # Without a sub, each token is its own identity (for rate limits), not one shared one.
        return Identity(subject or f"token:{digest[:8].hex()}", _scopes(claims),
                        float(expires_at))

    def _remember(self, digest: bytes, identity: Identity, now: float) -> None:
        if self._auth.cache_ttl <= 0:
            return
        self._verified[digest] = (identity, min(now + self._auth.cache_ttl, identity.expires_at))
        self._verified.move_to_end(digest)
        while len(self._verified) > _CACHE_ENTRIES:
            self._verified.popitem(last=False)


def issue_token(auth: AuthConfig, secret: bytes, *, subject: str, scopes: Iterable[str],
                ttl_s: float, clock: Callable[[], float] = time.time) -> str:
    """A token the agent itself accepts, signed with its HMAC secret."""
    algorithm = next((a for a in auth.algorithms if a in HMAC_ALGORITHMS), None)
    if algorithm is None:
        raise ValueError("auth uses public keys: tokens come from the identity provider")
    now = int(clock())
    claims: dict[str, Any] = {"sub": subject, "scope": " ".join(scopes), "iat": now,
                              "exp": now + int(ttl_s)}
    if auth.issuer:
        claims["iss"] = auth.issuer
    if auth.audience:
        claims["aud"] = auth.audience
    return jwt.encode(claims, secret, algorithm=algorithm)
