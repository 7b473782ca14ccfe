"""The access policy: which scope each route needs, and who the bearer of a token is."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping

from polyad.security.tokens import Identity, InvalidToken, TokenVerifier

__all__ = ["Access", "bearer_token"]

_B64TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")  # RFC 6750's b64token


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header (RFC 6750), else None."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not _B64TOKEN.fullmatch(token):
        return None
    return token


class Access:
    """`verifier` is None when auth is disabled (allowed on loopback only)."""

    def __init__(self, verifier: TokenVerifier | None,
                 scopes: Iterable[tuple[str, str, str | None]]) -> None:
        self.verifier = verifier
        # (method, route template) → the scope it needs; HEAD needs what GET needs
        self._scopes: Mapping[tuple[str, str], str | None] = {
            (method, path): scope for method, path, scope in scopes}

    @property
    def enabled(self) -> bool:
        return self.verifier is not None

    def required_scope(self, method: str, route: str | None) -> str | None:
        if route is None:
            return None
        return self._scopes.get(("GET" if method == "HEAD" else method, route))

    async def identify(
        self, token: str, before_costly_check: Callable[[], Awaitable[None]] | None = None,
    ) -> Identity:
        if self.verifier is None:
            raise InvalidToken("auth is disabled")
        return await self.verifier.verify(token, before_costly_check)
