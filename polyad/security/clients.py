"""Who a client is when no token says so: its address, seen through trusted proxies only."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from polyad.config import is_loopback

__all__ = ["client_address", "forwarded_hops", "from_this_machine"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_FORWARDED_FOR = re.compile(r'for="?\[?([^\]";,]+)', re.IGNORECASE)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def forwarded_hops(x_forwarded_for: Iterable[str], forwarded: Iterable[str] = ()) -> list[str]:
    """Every hop named by every X-Forwarded-For header (a proxy may add its own header rather
    than extend the client's) and by RFC 7239 `Forwarded: for=…`, left to right."""
    hops = [hop.strip() for header in x_forwarded_for for hop in header.split(",")]
    hops += [match for header in forwarded for match in _FORWARDED_FOR.findall(header)]
    return [hop for hop in hops if hop]


def client_address(peer: str | None, hops: Sequence[str], proxies: Sequence[Network]) -> str:
    """The peer, unless it is a trusted proxy: then the right-most forwarded hop that is not
    one (hops further left were written by the client and can be anything). A hop that is not
    an IP address ends the walk: nothing past it can be vouched for."""
    address = peer or "unknown"
    peer_ip = _ip(address)
    if not hops or peer_ip is None or not any(peer_ip in network for network in proxies):
        return address
    for hop in reversed(hops):
        ip = _ip(hop)
        if ip is None:
            break
        address = str(ip)
        if not any(ip in network for network in proxies):
            break
    return address


def from_this_machine(peer: str | None, hops: Sequence[str]) -> bool:
    """A loopback or unix-socket peer that forwards nobody from elsewhere (a reverse proxy on
    this host would otherwise make every client look local)."""
    local_peer = peer == "" or (peer is not None and is_loopback(peer))
    return local_peer and all(is_loopback(hop) for hop in hops)
