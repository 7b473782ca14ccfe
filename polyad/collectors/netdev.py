"""Where a host's network interfaces are read: their counters from procfs, their link state from
sysfs, under the roots `host.procfs` and `host.sysfs` name (psutil reads /proc/net/dev of the
agent's own network namespace only, and asks link state of the kernel through ioctl, which no
mounted tree redirects)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from polyad.collectors.base import read_text

__all__ = ["LinkState", "NicCounters", "read_counters_of_host", "read_links", "read_net_dev"]


@dataclass(frozen=True, slots=True)
class NicCounters:
    """One interface's counters since boot, in psutil's `net_io_counters` terms."""

    bytes_recv: int
    packets_recv: int
    errin: int
    dropin: int
    bytes_sent: int
    packets_sent: int
    errout: int
    dropout: int


def read_net_dev(path: Path) -> Mapping[str, NicCounters]:
    """`/proc/net/dev`: two header lines, then `name: rx bytes packets errs drop fifo frame
    compressed multicast tx bytes packets errs drop …` per interface."""
    counters = {}
    for line in path.read_text().splitlines()[2:]:
        name, _, fields = line.partition(":")
        values = [int(field) for field in fields.split()]
        if len(values) >= 12:
            counters[name.strip()] = NicCounters(*values[0:4], *values[8:12])
    return counters


def read_counters_of_host(procfs: Path) -> Mapping[str, NicCounters]:
    """The interfaces of the host's network namespace, PID 1's: `{procfs}/net/dev` is that of
    the process reading it, which in a container with the host's /proc mounted is the
    container's. Where PID 1 cannot be read (a hardened procfs), the reader's own."""
    try:
        return read_net_dev(procfs / "1" / "net" / "dev")
    except OSError:
        return read_net_dev(procfs / "net" / "dev")


@dataclass(frozen=True, slots=True)
class LinkState:
    """What sysfs says of an interface's link, in psutil's `net_if_stats` terms."""

    isup: bool
    speed: int        # Mbit/s; 0 when the driver reports none
    flags: str        # "up,loopback"-style: the ones this collector reads


_IFF_UP, _IFF_LOOPBACK = 0x1, 0x8
_LINK_DOWN = frozenset({"down", "lowerlayerdown", "notpresent", "dormant"})


def _link_state(interface: str) -> LinkState | None:
    flags_text = read_text(f"{interface}/flags")
    if flags_text is None:
        return None
    flags = int(flags_text, 16)
    speed_text = read_text(f"{interface}/speed")
    speed = int(speed_text) if speed_text and speed_text.lstrip("-").isdigit() else 0
    # `unknown` is what the loopback and many virtual links say while passing traffic
    operstate = read_text(f"{interface}/operstate") or "unknown"
    named = [name for bit, name in ((_IFF_UP, "up"), (_IFF_LOOPBACK, "loopback")) if flags & bit]
    return LinkState(isup=bool(flags & _IFF_UP) and operstate not in _LINK_DOWN,
                     speed=max(0, speed), flags=",".join(named))


def read_links(sysfs_net: Path) -> Mapping[str, LinkState]:
    """Link state by interface name, from `{sysfs}/class/net` (psutil asks the kernel through
    ioctl, which sees only the agent's own network namespace and no fixture tree)."""
    try:
        names = os.listdir(sysfs_net)
    except OSError:
        return {}
    states = {}
    for name in names:
        state = _link_state(os.path.join(sysfs_net, name))
        if state is not None:
            states[name] = state
    return states
