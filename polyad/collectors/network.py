"""Per-interface byte and packet counters, and upload/download rates between two samples."""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from polyad.collectors.base import CollectorSpec, JsonPiece, MetricSpec, PieceModel, Reading, scalar
from polyad.collectors.netdev import LinkState, LinkStates, read_counters_of_host, read_links
from polyad.config import CollectorConfig, HostConfig
from polyad.units import format_bitrate

__all__ = ["SPEC", "Interface", "LinkState", "NetworkCollector", "NetworkConfig",
           "NetworkSample", "read_links"]

_LOOPBACK_NAME = re.compile(r"lo\d*")


@dataclass(frozen=True, slots=True)
class Interface:
    name: str
    bytes_sent: int
    bytes_recv: int
    packets_sent: int
    packets_recv: int
    errors_in: int
    errors_out: int
    drops_in: int
    drops_out: int
    upload_bps: float | None      # bits per second since the previous sample
    download_bps: float | None
    speed_bps: int | None         # link speed, when the driver reports one
    is_up: bool | None
    is_loopback: bool
    is_physical: bool | None      # backed by a device (not a bridge, veth, tunnel); None: unknown


@dataclass(frozen=True, slots=True)
class NetworkSample:
    interfaces: tuple[Interface, ...]
    upload_bps: float | None      # summed over physical interfaces (see `external`)
    download_bps: float | None


def _rate_bps(current: int, previous: int, elapsed_s: float) -> float | None:
    if elapsed_s <= 0 or current < previous:  # counter reset: no honest rate this time
        return None
    return round((current - previous) * 8 / elapsed_s, 1)


def _is_loopback(name: str, stat: Any) -> bool:
    flags = getattr(stat, "flags", "")
    return "loopback" in flags.split(",") or _LOOPBACK_NAME.fullmatch(name) is not None


def _external(interfaces: Sequence[Interface]) -> list[Interface]:
    """The interfaces whose traffic is the host's upload and download.

    Physical ones where the kernel says which those are: a container's packets cross its veth,
    a bridge and the NIC, and summing all three would count them three times.
    """
    physical = [nic for nic in interfaces if nic.is_physical]
    return physical or [nic for nic in interfaces if not nic.is_loopback]


def _sum_rates(rates: Sequence[float | None]) -> float | None:
    known = [rate for rate in rates if rate is not None]
    return round(sum(known), 1) if known else None


class NetworkCollector:
    name = "network"
    no_data: str | None = None

    def __init__(
        self,
        exclude: Sequence[str] = (),
        read_counters: Callable[[], Mapping[str, Any]] | None = None,
        read_stats: Callable[[], Mapping[str, Any]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sysfs_net: Path = Path("/sys/class/net"),
        procfs: Path = Path("/proc"),
    ) -> None:
        self._exclude = tuple(exclude)
        self._sysfs_net = sysfs_net
        self._read_counters = read_counters or (lambda: read_counters_of_host(procfs))
        self._read_stats = read_stats or LinkStates(sysfs_net).read
        self._clock = clock
        self._previous: Mapping[str, Any] = {}
        self._previous_at: float | None = None
        self._physical: dict[str, bool | None] = {}

    def _included(self, name: str) -> bool:
        return not any(fnmatch.fnmatchcase(name, pattern) for pattern in self._exclude)

    def collect(self) -> NetworkSample:
        now = self._clock()
        counters = {name: c for name, c in self._read_counters().items() if self._included(name)}
        stats = self._read_stats()
        elapsed_s = now - self._previous_at if self._previous_at is not None else 0.0
        interfaces = tuple(
            self._interface(name, counters[name], stats.get(name), elapsed_s)
            for name in sorted(counters)
        )
        self._previous, self._previous_at = counters, now
        if len(self._physical) > len(counters):
            self._physical = {name: kind for name, kind in self._physical.items()
                              if name in counters}
        external = _external(interfaces)
        return NetworkSample(
            interfaces=interfaces,
            upload_bps=_sum_rates([nic.upload_bps for nic in external]),
            download_bps=_sum_rates([nic.download_bps for nic in external]),
        )

    def _interface(self, name: str, counter: Any, stat: Any, elapsed_s: float) -> Interface:
        before = self._previous.get(name)
        return Interface(
            name=name,
            bytes_sent=counter.bytes_sent,
            bytes_recv=counter.bytes_recv,
            packets_sent=counter.packets_sent,
            packets_recv=counter.packets_recv,
            errors_in=counter.errin,
            errors_out=counter.errout,
            drops_in=counter.dropin,
            drops_out=counter.dropout,
            upload_bps=_rate_bps(counter.bytes_sent, before.bytes_sent, elapsed_s)
            if before else None,
            download_bps=_rate_bps(counter.bytes_recv, before.bytes_recv, elapsed_s)
            if before else None,
            speed_bps=stat.speed * 1_000_000 if stat is not None and stat.speed > 0 else None,
            is_up=stat.isup if stat is not None else None,
            is_loopback=_is_loopback(name, stat),
            is_physical=self._is_physical(name),
        )

    def _is_physical(self, name: str) -> bool | None:
        """Whether a device backs it: asked once per interface name (a name stays with its
        kind of link while it exists), forgotten when the interface goes."""
        if name not in self._physical:
            # None: not Linux, or no sysfs in this container
            self._physical[name] = ((self._sysfs_net / name / "device").exists()
                                    if self._sysfs_net.is_dir() else None)
        return self._physical[name]

    def close(self) -> None:
        pass


# -- what it declares ----------------------------------------------------------------------
class NetworkConfig(CollectorConfig):
    # fnmatch patterns of interface names to leave out entirely. Container veths come and go
    # with random names: as labels they would grow without bound.
    exclude: list[str] = Field(default_factory=lambda: ["veth*", "cali*"])
    """fnmatch patterns of interfaces to leave out (container veths come and go)."""


class InterfaceMetrics(PieceModel):
    name: str
    upload: str | None = Field(description='Human rate, e.g. "1Mbps"')
    upload_bps: float | None
    download: str | None
    download_bps: float | None
    bytes_sent: int
    bytes_recv: int
    packets_sent: int
    packets_recv: int
    errors_in: int
    errors_out: int
    drops_in: int
    drops_out: int
    speed_bps: int | None
    is_up: bool | None
    is_physical: bool | None = Field(description="Backed by a device; only these count in the "
                                     "totals when the host says which they are")


class NetworkMetrics(PieceModel):
    upload: str | None = Field(description="All external interfaces; null before two samples")
    upload_bps: float | None
    download: str | None
    download_bps: float | None
    interfaces: list[InterfaceMetrics]


def _human(bps: float | None) -> str | None:
    return format_bitrate(bps) if bps is not None else None


def _piece(sample: NetworkSample | None) -> NetworkMetrics:
    upload_bps = sample.upload_bps if sample else None
    download_bps = sample.download_bps if sample else None
    return NetworkMetrics(
        upload=_human(upload_bps), upload_bps=upload_bps,
        download=_human(download_bps), download_bps=download_bps,
        interfaces=[InterfaceMetrics(upload=_human(nic.upload_bps),
                                     download=_human(nic.download_bps), **_fields(nic))
                    for nic in (sample.interfaces if sample else ())])


def _fields(nic: Interface) -> dict[str, Any]:
    return {name: getattr(nic, name) for name in InterfaceMetrics.model_fields
            if name not in ("upload", "download")}


def _directions(sent: str, received: str) -> Callable[[NetworkSample], list[Reading]]:
    def read(sample: NetworkSample) -> list[Reading]:
        return [((nic.name, direction), getattr(nic, field))
                for nic in sample.interfaces
                for direction, field in (("transmit", sent), ("receive", received))]
    return read


def _per_nic(field: str) -> Callable[[NetworkSample], list[Reading]]:
    def read(sample: NetworkSample) -> list[Reading]:
        return [((nic.name,), getattr(nic, field)) for nic in sample.interfaces]
    return read


_NIC = ("network.interface.name",)
_NIC_DIRECTION = ("network.interface.name", "network.io.direction")
RATE_WINDOW = "2m"  # two scrapes at Prometheus' default interval of 1m, so rate() has a slope


def _promql_bps(direction: str) -> tuple[str, float]:
    return (f'rate(system_network_io_bytes_total{{network_io_direction="{direction}"}}'
            f"[{RATE_WINDOW}]) * 8", 1.0)


_METRICS = (
    MetricSpec(None, "network.upload_bps", "bit/s", "Bits sent per second, all external NICs",
               lambda sample: scalar(sample.upload_bps)),
    MetricSpec(None, "network.download_bps", "bit/s",
               "Bits received per second, all external NICs",
               lambda sample: scalar(sample.download_bps)),
    MetricSpec(None, "network.interfaces[].upload_bps", "bit/s", "Bits sent per second",
               _per_nic("upload_bps"), labels=_NIC, promql=_promql_bps("transmit")),
    MetricSpec(None, "network.interfaces[].download_bps", "bit/s", "Bits received per second",
               _per_nic("download_bps"), labels=_NIC, promql=_promql_bps("receive")),
    MetricSpec("system.network.io", None, "By", "Bytes moved by the interface",
               _directions("bytes_sent", "bytes_recv"), labels=_NIC_DIRECTION, kind="counter"),
    MetricSpec("system.network.packet.count", None, "{packet}",
               "Packets moved by the interface", _directions("packets_sent", "packets_recv"),
               labels=_NIC_DIRECTION, kind="counter"),
    MetricSpec("system.network.errors", None, "{error}", "Receive and transmit errors",
               _directions("errors_out", "errors_in"), labels=_NIC_DIRECTION, kind="counter"),
    MetricSpec("system.network.packet.dropped", None, "{packet}", "Packets dropped",
               _directions("drops_out", "drops_in"), labels=_NIC_DIRECTION, kind="counter"),
    MetricSpec("polyad.network.link.speed", "network.interfaces[].speed_bps", "By/s",
               "Link speed the driver reports", _per_nic("speed_bps"), labels=_NIC,
               otel_scale=1 / 8),  # exposed in bytes, the base unit, as node_exporter does
)


def _build(config: NetworkConfig, host: HostConfig) -> NetworkCollector:
    return NetworkCollector(exclude=config.exclude, sysfs_net=host.sysfs / "class" / "net",
                            procfs=host.procfs)


SPEC = CollectorSpec(
    name="network", config=NetworkConfig, build=_build, metrics=_METRICS,
    pieces=(JsonPiece("network", NetworkMetrics, _piece),),
    component="network", monitored=("network.upload_bps", "network.download_bps"))
