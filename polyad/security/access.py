"""The access policy: which scope each route needs, and who the bearer of a token is."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from polyad.security.tokens import Identity, InvalidToken, TokenVerifier

__all__ = ["Access", "bearer_token", "certificate_subject"]

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


# RFC 4514's short names for a certificate subject's attributes, as Python's ssl names them
_RDN_NAMES = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
              "countryName": "C", "localityName": "L", "stateOrProvinceName": "ST",
              "domainComponent": "DC", "emailAddress": "emailAddress"}


def certificate_subject(peercert: Mapping[str, Any] | None) -> str | None:
    """A verified client certificate's subject as "CN=prometheus,O=ops"; None without one."""
    if not peercert or "subject" not in peercert:
        return None
    parts = [f"{_RDN_NAMES.get(name, name)}={value}"
             for relative in peercert["subject"] for name, value in relative]
    return ",".join(parts) or None


class Access:
    """`verifier` is None when auth is disabled (allowed on loopback only); `certificates`:
    the client certificate subjects that stand in for a token, and their scopes."""

    def __init__(self, verifier: TokenVerifier | None,
                 scopes: Iterable[tuple[str, str, str | None]],
                 certificates: Mapping[str, Iterable[str]] | None = None) -> None:
        self._certificates = {subject: frozenset(granted)
                              for subject, granted in (certificates or {}).items()}
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

    def certificate_identity(self, peercert: Mapping[str, Any] | None) -> Identity | None:
        """The identity a verified client certificate stands for, if it is one configured."""
        subject = certificate_subject(peercert)
        if subject is None or subject not in self._certificates:
            return None
        return Identity(f"cert:{subject}", self._certificates[subject], float("inf"))

    async def identify(
        self, token: str, before_costly_check: Callable[[], Awaitable[None]] | None = None,
    ) -> Identity:
        if self.verifier is None:
            raise InvalidToken("auth is disabled")
        return await self.verifier.verify(token, before_costly_check)
