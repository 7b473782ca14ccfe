"""A structlog processor that keeps credentials out of logs, however deep they are nested."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from structlog.typing import EventDict

__all__ = ["REDACTED", "redact_secrets", "redact_url", "redact_urls"]

REDACTED = "[REDACTED]"
_SENSITIVE_KEY = re.compile(r"authorization|token|secret|password|passwd|api[_-]?key|cookie",
                            re.IGNORECASE)
# Credentials inside any text (a message, an exception, a URL): a JWT or a piece of one, and
# whatever follows "Bearer" (a library may log a request line cut short mid-token).
# and the value of a credential-named query parameter (`?access_token=…` in a request line).
# and passwords in URLs (`redis://:pw@host`), and `Cookie:` header text.
_IN_TEXT = re.compile(
    r"eyJ[A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]*){0,2}"
    r"|(?:(?<=Bearer )|(?<=Basic ))\s*[A-Za-z0-9._~+/=-]+"
    r"|(?<=[?&;])(?P<param>[\w-]*(?:token|jwt|api[_-]?key|password|secret))=[^&;\s\"']*"
    r"|(?<=://)(?P<userinfo>[^/@\s:]*):[^/@\s]*(?=@)"
    r"|(?<=\bCookie: )[^\r\n\"']+",
    re.IGNORECASE)
_MAX_DEPTH = 8
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.IGNORECASE)


def _redacted(match: re.Match[str]) -> str:
    if match.group("param"):
        return f"{match.group('param')}={REDACTED}"
    if match.group("userinfo") is not None:
        return f"{match.group('userinfo')}:{REDACTED}"
    return REDACTED


def _clean(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return _IN_TEXT.sub(_redacted, value)
    if depth >= _MAX_DEPTH:
        return value if isinstance(value, int | float | bool) or value is None else REDACTED
    if isinstance(value, Mapping):
        return {key: REDACTED if isinstance(key, str) and _SENSITIVE_KEY.search(key)
                else _clean(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(item, depth + 1) for item in value]
    return value


def redact_secrets(_: Any, __: str, event: EventDict) -> EventDict:
    cleaned: EventDict = _clean(event, 0)
    return cleaned


def redact_url(url: str) -> str:
    """`url` as a log line may show it: scheme, host and port. Its path, query and user part
    are dropped, since they can be the credential itself (a Slack-style webhook's path is its
    secret); `/[REDACTED]` says something was there."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return REDACTED
    host_and_port = parts.netloc.rpartition("@")[2]
    if not parts.scheme or not host_and_port:
        return REDACTED
    hidden = parts.path.strip("/") or parts.query or parts.fragment
    return f"{parts.scheme}://{host_and_port}" + (f"/{REDACTED}" if hidden else "")


def redact_urls(text: str) -> str:
    """`text` with each URL in it cut down by `redact_url` (an HTTP client's error message
    quotes the URL it failed on)."""
    return _URL.sub(lambda match: redact_url(match.group()), text)
