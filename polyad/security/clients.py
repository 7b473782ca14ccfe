"""Who a client is when no token says so: its address, seen through trusted proxies only."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

__all__ = ["client_address"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(peer: str | None, forwarded_for: str | None,
                   proxies: Sequence[Network]) -> str:
    """The peer, unless it is a trusted proxy: then the right-most X-Forwarded-For hop that is
    not one (hops further left were written by the client and can be anything)."""
    address = peer or "unknown"
    if not forwarded_for or not _trusted(address, proxies):
        return address
    for hop in reversed([hop.strip() for hop in forwarded_for.split(",") if hop.strip()]):
        address = hop
        if not _trusted(hop, proxies):
            break
    return address
