"""Who a client is when no token says so: its address, seen through trusted proxies only."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from polyad.config import is_loopback
from polyad.config.security import ForwardedHeader

__all__ = ["client_address", "forwarded_hops", "from_this_machine"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_FORWARDED_FOR = re.compile(r'for="?\[?([^\]";,]+)', re.IGNORECASE)
_IPV4_WITH_PORT = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}):\d+")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _x_forwarded_for_hops(headers: Iterable[str]) -> list[str]:
    # every header counts: a proxy may add its own header rather than extend the client's
    return [hop.strip() for header in headers for hop in header.split(",")]


def _rfc7239_hops(headers: Iterable[str]) -> list[str]:
    # `for=192.0.2.60`, `for="192.0.2.60:4711"`, `for="[2001:db8::1]:4711"`: the address only
    nodes = [node.strip() for header in headers for node in _FORWARDED_FOR.findall(header)]
    return [ipv4[1] if (ipv4 := _IPV4_WITH_PORT.fullmatch(node)) else node for node in nodes]


def forwarded_hops(header: ForwardedHeader, values: Iterable[str]) -> list[str]:
    """Every hop named by every `header` (X-Forwarded-For, or RFC 7239 `Forwarded: for=…`),
    left to right. One kind only: a proxy that writes one leaves the other as the client
    sent it, so reading both would let the client append hops after the proxy's."""
    hops = _x_forwarded_for_hops(values) if header == "x-forwarded-for" else _rfc7239_hops(values)
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
    this host would otherwise make every client look local). `hops` should hold every kind of
    forwarding header: here believing more only refuses more."""
    local_peer = peer == "" or (peer is not None and is_loopback(peer))
    return local_peer and all(is_loopback(hop) for hop in hops)
