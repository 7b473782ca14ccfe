"""The client's address and forwarding chain, as the rate limiter and auth-off mode see them."""

from __future__ import annotations

from aiohttp import hdrs, web

from polyad.api.keys import CONFIG
from polyad.security.clients import client_address, forwarded_hops

__all__ = ["forwarding_chain", "requester_address"]


def forwarding_chain(request: web.Request) -> list[str]:
    return forwarded_hops(request.headers.getall(hdrs.X_FORWARDED_FOR, []),
                          request.headers.getall(hdrs.FORWARDED, []))


def requester_address(request: web.Request) -> str:
    proxies = request.app[CONFIG].rate_limit.trusted_proxies
    return client_address(request.remote, forwarding_chain(request), proxies)
