from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator
from pathlib import Path

import psutil

from polyad.collectors.netdev import LinkStates
from polyad.collectors.network import LinkState, NetworkCollector, NetworkConfig, read_links
from polyad.config import load_config

Counters = namedtuple(
    "Counters",
    "bytes_sent bytes_recv packets_sent packets_recv errin errout dropin dropout",
)
Stats = namedtuple("Stats", "isup duplex speed mtu flags")


def counters(sent: int, received: int) -> Counters:
    return Counters(sent, received, sent // 100, received // 100, 0, 1, 2, 3)


def make(readings: Iterator[dict[str, Counters]], clock: Iterator[float],
         exclude: tuple[str, ...] = (), sysfs_net: Path = Path("/nonexistent")
         ) -> NetworkCollector:
    stats = {"eth0": Stats(True, 2, 1000, 1500, "up,broadcast,running,multicast"),
             "lo": Stats(True, 0, 0, 65536, "up,loopback,running")}
    return NetworkCollector(exclude=exclude, read_counters=lambda: next(readings),
                            read_stats=lambda: stats, clock=lambda: next(clock),
                            sysfs_net=sysfs_net)


def sysfs(root: Path, physical: tuple[str, ...], virtual: tuple[str, ...]) -> Path:
    for name in physical:
        (root / name / "device").mkdir(parents=True)
    for name in virtual:
        (root / name).mkdir(parents=True)
    return root


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


def test_totals_count_only_physical_interfaces_when_the_kernel_says_which(
    tmp_path: Path,
) -> None:
    # a container's upload crosses veth → docker0 → eth0: counted once, at eth0
    readings = iter([
        {name: counters(0, 0) for name in ("eth0", "docker0", "veth1a2b", "lo")},
        {"eth0": counters(1_000, 0), "docker0": counters(1_000, 0),
         "veth1a2b": counters(1_000, 0), "lo": counters(0, 0)},
    ])
    root = sysfs(tmp_path, physical=("eth0",), virtual=("docker0", "veth1a2b", "lo"))
    collector = make(readings, iter([0.0, 1.0]), sysfs_net=root)
    collector.collect()
    sample = collector.collect()
    assert {nic.name: nic.is_physical for nic in sample.interfaces} == {
        "docker0": False, "eth0": True, "lo": False, "veth1a2b": False}
    assert sample.upload_bps == 8_000.0


def test_without_sysfs_or_a_physical_nic_totals_use_every_non_loopback_one(
    tmp_path: Path,
) -> None:
    readings = iter([{"eth0": counters(0, 0), "lo": counters(0, 0)},
                     {"eth0": counters(500, 0), "lo": counters(900, 0)}])
    inside_a_container = sysfs(tmp_path, physical=(), virtual=("eth0", "lo"))
    collector = make(readings, iter([0.0, 1.0]), sysfs_net=inside_a_container)
    collector.collect()
    assert collector.collect().upload_bps == 4_000.0


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


def test_container_veths_are_left_out_by_default() -> None:
    network = load_config(environ={}).collectors.section("network")
    assert isinstance(network, NetworkConfig) and network.exclude == ["veth*", "cali*"]


def test_on_this_host() -> None:
    collector = NetworkCollector()
    collector.collect()
    sample = collector.collect()
    names = {nic.name for nic in sample.interfaces}
    assert names == set(psutil.net_io_counters(pernic=True))
    assert all(nic.upload_bps is None or nic.upload_bps >= 0 for nic in sample.interfaces)
    assert any(nic.is_loopback for nic in sample.interfaces)


def test_link_state_comes_from_sysfs(tmp_path: Path) -> None:
    for name, flags, operstate, speed in (("eth0", "0x1003", "up", "1000"),
                                          ("eth1", "0x1003", "down", "-1"),
                                          ("lo", "0x9", "unknown", None),
                                          ("tun0", "0x1090", "unknown", None)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "flags").write_text(flags + "\n")
        (tmp_path / name / "operstate").write_text(operstate + "\n")
        if speed is not None:
            (tmp_path / name / "speed").write_text(speed + "\n")
    (tmp_path / "bonding_masters").write_text("\n")  # a file, not an interface
    states = read_links(tmp_path)
    assert states == {"eth0": LinkState(isup=True, speed=1000, flags="up"),
                      "eth1": LinkState(isup=False, speed=0, flags="up"),  # no carrier
                      "lo": LinkState(isup=True, speed=0, flags="up,loopback"),
                      "tun0": LinkState(isup=False, speed=0, flags="")}  # not brought up


def write_link(root: Path, name: str, flags: str, operstate: str, speed: str | None) -> None:
    (root / name).mkdir(exist_ok=True)
    (root / name / "flags").write_text(flags + "\n")
    (root / name / "operstate").write_text(operstate + "\n")
    if speed is not None:
        (root / name / "speed").write_text(speed + "\n")


def test_a_steady_link_costs_one_file_and_any_move_of_its_operstate_reads_it_all(
        tmp_path: Path) -> None:
    now = {"s": 0.0}
    write_link(tmp_path, "eth0", "0x1003", "up", "1000")
    links = LinkStates(tmp_path, clock=lambda: now["s"])
    assert links.read()["eth0"] == LinkState(isup=True, speed=1000, flags="up")
    (tmp_path / "eth0" / "speed").write_text("10000\n")     # unseen while operstate stands
    assert links.read()["eth0"].speed == 1000
    write_link(tmp_path, "eth0", "0x1003", "down", "-1")    # the cable pulled
    assert links.read()["eth0"] == LinkState(isup=False, speed=0, flags="up")
    write_link(tmp_path, "eth0", "0x1003", "up", "10000")   # back, renegotiated
    assert links.read()["eth0"] == LinkState(isup=True, speed=10000, flags="up")


def test_steady_links_are_read_whole_again_after_the_recheck_span(tmp_path: Path) -> None:
    now = {"s": 0.0}
    write_link(tmp_path, "eth0", "0x1003", "up", "1000")
    links = LinkStates(tmp_path, clock=lambda: now["s"])
    links.read()
    (tmp_path / "eth0" / "speed").write_text("2500\n")
    now["s"] = LinkStates.RECHECK_S - 1
    assert links.read()["eth0"].speed == 1000
    now["s"] = LinkStates.RECHECK_S
    assert links.read()["eth0"].speed == 2500


def test_links_without_a_carrier_state_are_up_or_down_by_their_flag_each_tick(
        tmp_path: Path) -> None:
    write_link(tmp_path, "lo", "0x9", "unknown", None)
    links = LinkStates(tmp_path, clock=lambda: 0.0)
    assert links.read()["lo"].isup
    (tmp_path / "lo" / "flags").write_text("0x8\n")          # `ip link set lo down`
    assert links.read()["lo"] == LinkState(isup=False, speed=0, flags="loopback")


def test_a_link_without_an_operstate_file_is_up_or_down_by_its_flag(tmp_path: Path) -> None:
    (tmp_path / "old0").mkdir()
    (tmp_path / "old0" / "flags").write_text("0x1003\n")
    links = LinkStates(tmp_path, clock=lambda: 0.0)
    assert links.read()["old0"] == LinkState(isup=True, speed=0, flags="up")
    (tmp_path / "old0" / "flags").write_text("0x1002\n")
    assert not links.read()["old0"].isup


def test_a_removed_interface_leaves_the_links(tmp_path: Path) -> None:
    write_link(tmp_path, "eth0", "0x1003", "up", "1000")
    write_link(tmp_path, "veth1", "0x1003", "up", "10000")
    links = LinkStates(tmp_path, clock=lambda: 0.0)
    assert sorted(links.read()) == ["eth0", "veth1"]
    for file in (tmp_path / "veth1").iterdir():
        file.unlink()
    (tmp_path / "veth1").rmdir()
    assert sorted(links.read()) == ["eth0"]


def test_whether_a_nic_is_physical_is_asked_once_while_it_exists(tmp_path: Path) -> None:
    root = sysfs(tmp_path, physical=("eth0",), virtual=("lo",))
    readings = iter([{"eth0": counters(0, 0), "lo": counters(0, 0)},
                     {"eth0": counters(0, 0), "lo": counters(0, 0)},
                     {"lo": counters(0, 0)},                       # eth0 goes …
                     {"eth0": counters(0, 0), "lo": counters(0, 0)}])
    collector = make(readings, iter([0.0, 1.0, 2.0, 3.0]), sysfs_net=root)
    assert collector.collect().interfaces[0].is_physical
    (root / "eth0" / "device").rmdir()
    assert collector.collect().interfaces[0].is_physical        # remembered while it exists
    collector.collect()
    # … and comes back as a virtual link of the same name: asked anew
    assert collector.collect().interfaces[0].is_physical is False
