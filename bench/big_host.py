"""Made-up hosts of any size, for the cost curve (bench/scenarios/host_size.py): a procfs, a
sysfs and a rootfs tree, as tests/fixtures/make_host.py writes the small one, with N CPUs,
disks, mounts, interfaces and GPU processes. Values vary by index so no two series are alike;
the memory, swap and pressure files are the small host's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.fixtures import make_host

__all__ = ["HostSize", "write_host"]


@dataclass(frozen=True)
class HostSize:
    cpus: int
    disks: int
    mounts: int
    interfaces: int
    gpus: int
    gpu_processes: int     # spread over the GPUs

    @property
    def label(self) -> str:
        return (f"{self.cpus} CPUs, {self.disks} disks, {self.mounts} mounts, "
                f"{self.interfaces} NICs, {self.gpus} GPUs/{self.gpu_processes} procs")

    def scaled(self, share: float) -> HostSize:
        return HostSize(*(max(1, round(value * share)) for value in (
            self.cpus, self.disks, self.mounts, self.interfaces, self.gpus,
            self.gpu_processes)))


FIRST_PID = 40000   # the GPU processes' pids, in the made-up procfs


def _stat(cpus: int) -> str:
    lines = [f"cpu  {600000 * cpus} 2000 {120000 * cpus} {4000000 * cpus} 10000 0 6000 0 0 0"]
    lines += [f"cpu{n} {150000 + n} 500 {30000 + n} {1000000 + n} 2500 0 1500 0 0 0"
              for n in range(cpus)]
    lines += ["intr 98765432 0 1 2", "ctxt 123456789", "btime 1700000000", "processes 54321",
              "procs_running 2", "procs_blocked 0"]
    return "\n".join(lines) + "\n"


def _net_dev(interfaces: int) -> str:
    header = make_host.PROC["net/dev"].splitlines()[:2]
    rows = [f"  eth{n}: {9000000000 + n} 7000000 0 0 0 0 0 0 {1500000000 + n} 3000000 0 0 0 0 0 0"
            for n in range(interfaces)]
    return "\n".join([*header, *rows]) + "\n"


def _disk_name(n: int) -> str:
    return f"nvme{n}n1"


def _diskstats(disks: int) -> str:
    lines = []
    for n in range(disks):
        lines.append(f"259 {2 * n} {_disk_name(n)} {182000 + n} 1200 9100000 51000 364000 8800 "
                     "27300000 402000 0 190000 453000 0 0 0 0 12000 3000")
        lines.append(f"259 {2 * n + 1} {_disk_name(n)}p1 {181000 + n} 1200 9000000 50900 364000 "
                     "8800 27300000 402000 0 189000 452900 0 0 0 0 0 0")
    return "\n".join(lines) + "\n"


def _mountinfo(mounts: int, disks: int) -> str:
    lines = ["22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw",
             "23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw",
             "24 22 0:22 / /sys rw,nosuid shared:7 - sysfs sysfs rw"]
    lines += [f"{100 + n} 22 259:{n} / /data/{n} rw,relatime shared:{100 + n} - xfs "
              f"/dev/{_disk_name(n % disks)}p1 rw" for n in range(mounts - 1)]
    return "\n".join(lines) + "\n"


def _gpu_processes(count: int) -> dict[str, str]:
    files = {}
    for n in range(count):
        pid, name = FIRST_PID + n, f"trainer{n % 10}"
        files[f"{pid}/stat"] = (f"{pid} ({name}) S 1 {pid} {pid} 0 -1 4194560 0 0 0 0 100 20 0 0 "
                                "20 0 8 0 5000 100000000 2000 18446744073709551615 0 0 0 0 0 0 "
                                "0 0 0 0 0 0 17 3 0 0 0 0 0\n")
        files[f"{pid}/comm"] = name + "\n"
        files[f"{pid}/cgroup"] = f"0::/system.slice/job{n % 4}.service\n"
    return files


def _sys(size: HostSize) -> dict[str, str]:
    files: dict[str, str] = {}
    for n in range(size.interfaces):
        files[f"class/net/eth{n}/flags"] = "0x1003\n"
        files[f"class/net/eth{n}/operstate"] = "up\n"
        files[f"class/net/eth{n}/speed"] = "25000\n"
        files[f"class/net/eth{n}/device/vendor"] = "0x15b3\n"
    for n in range(size.disks):
        files[f"class/block/{_disk_name(n)}/dev"] = f"259:{2 * n}\n"
        files[f"class/block/{_disk_name(n)}p1/partition"] = "1\n"
    # two packages, a sensor per physical core (half the logical CPUs), and a fan per package
    cores_per_package = max(1, size.cpus // 4)
    for package in range(2):
        chip = f"class/hwmon/hwmon{package}"
        files[f"{chip}/name"] = "coretemp\n"
        for channel in range(cores_per_package + 1):
            label = f"Package id {package}" if channel == 0 else f"Core {channel - 1}"
            files[f"{chip}/temp{channel + 1}_label"] = label + "\n"
            files[f"{chip}/temp{channel + 1}_input"] = f"{50000 + channel * 100}\n"
            files[f"{chip}/temp{channel + 1}_max"] = "80000\n"
            files[f"{chip}/temp{channel + 1}_crit"] = "100000\n"
        files[f"{chip}/fan1_input"] = f"{1200 + package}\n"
    return files


def write_host(root: Path, size: HostSize) -> None:
    """The host's trees under `root`: proc/, sys/ and root/ (its mount points)."""
    proc = {name: content for name, content in make_host.PROC.items()
            if name in ("loadavg", "uptime", "sys/fs/file-nr", "meminfo", "vmstat")
            or name.startswith("pressure/")}
    proc |= {"stat": _stat(size.cpus), "1/net/dev": _net_dev(size.interfaces),
             "net/dev": _net_dev(1), "diskstats": _diskstats(size.disks),
             "1/mountinfo": _mountinfo(size.mounts, size.disks),
             **_gpu_processes(size.gpu_processes)}
    mount_points = {"root/.mountpoint": "", **{f"root/data/{n}/.mountpoint": ""
                                               for n in range(size.mounts - 1)}}
    trees = {**{f"proc/{name}": text for name, text in proc.items()},
             **{f"sys/{name}": text for name, text in _sys(size).items()}, **mount_points}
    for relative, content in trees.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
