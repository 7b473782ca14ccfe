"""The client's address and forwarding chain, as the rate limiter and auth-off mode see them."""

from __future__ import annotations

from aiohttp import web

from polyad.api.keys import CONFIG
from polyad.security.clients import client_address, forwarded_hops

__all__ = ["every_forwarded_hop", "requester_address"]


def every_forwarded_hop(request: web.Request) -> list[str]:
    """The hops of both kinds of forwarding header, whichever the proxy writes: for refusing
    forwarded clients, where reading a header the client wrote can only refuse more."""
    return (forwarded_hops("x-forwarded-for", request.headers.getall("x-forwarded-for", []))
            + forwarded_hops("forwarded", request.headers.getall("forwarded", [])))


def requester_address(request: web.Request) -> str:
    """The address a rate limit counts: through trusted proxies, from their one header."""
    config = request.app[CONFIG].rate_limit
    header = config.forwarded_header  # also the header's name
    hops = forwarded_hops(header, request.headers.getall(header, []))
    return client_address(request.remote, hops, config.trusted_proxies)
