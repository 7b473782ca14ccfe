from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator

import psutil

from polyad.collectors.network import NetworkCollector

Counters = namedtuple(
    "Counters",
    "bytes_sent bytes_recv packets_sent packets_recv errin errout dropin dropout",
)
Stats = namedtuple("Stats", "isup duplex speed mtu flags")


def counters(sent: int, received: int) -> Counters:
    return Counters(sent, received, sent // 100, received // 100, 0, 1, 2, 3)


def make(readings: Iterator[dict[str, Counters]], clock: Iterator[float],
         exclude: tuple[str, ...] = ()) -> NetworkCollector:
    stats = {"eth0": Stats(True, 2, 1000, 1500, "up,broadcast,running,multicast"),
             "lo": Stats(True, 0, 0, 65536, "up,loopback,running")}
    return NetworkCollector(exclude=exclude, read_counters=lambda: next(readings),
                            read_stats=lambda: stats, clock=lambda: next(clock))


def test_rates_are_bits_per_second_between_two_samples() -> None:
    readings = iter([
        {"eth0": counters(1_000, 2_000), "lo": counters(0, 0)},
        {"eth0": counters(126_000, 1_252_000), "lo": counters(500_000, 500_000)},
    ])
    collector = make(readings, iter([10.0, 12.0]))
    first = collector.collect()
    assert first.upload_bps is None and first.download_bps is None  # no interval yet
    second = collector.collect()
    eth0, lo = second.interfaces
    assert (eth0.name, eth0.upload_bps, eth0.download_bps) == ("eth0", 500_000.0, 5_000_000.0)
    assert eth0.speed_bps == 1_000_000_000 and eth0.is_up and not eth0.is_loopback
    assert lo.is_loopback and lo.speed_bps is None
    # loopback traffic is neither upload nor download
    assert (second.upload_bps, second.download_bps) == (500_000.0, 5_000_000.0)
    assert (eth0.errors_out, eth0.drops_in, eth0.drops_out) == (1, 2, 3)


def test_a_counter_that_went_backwards_gives_no_rate() -> None:
    readings = iter([{"eth0": counters(5_000, 5_000)}, {"eth0": counters(10, 9_000)}])
    collector = make(readings, iter([0.0, 1.0]))
    collector.collect()
    eth0 = collector.collect().interfaces[0]
    assert eth0.upload_bps is None
    assert eth0.download_bps == 32_000.0


def test_excluded_interfaces_are_left_out() -> None:
    readings = iter([{"eth0": counters(1, 1), "veth12ab": counters(1, 1), "lo": counters(1, 1)}])
    sample = make(readings, iter([0.0]), exclude=("veth*",)).collect()
    assert [nic.name for nic in sample.interfaces] == ["eth0", "lo"]


def test_on_this_host() -> None:
    collector = NetworkCollector()
    collector.collect()
    sample = collector.collect()
    names = {nic.name for nic in sample.interfaces}
    assert names == set(psutil.net_io_counters(pernic=True))
    assert all(nic.upload_bps is None or nic.upload_bps >= 0 for nic in sample.interfaces)
    assert any(nic.is_loopback for nic in sample.interfaces)
