"""The documented list of Prometheus series (docs/prometheus.md, linked from the README) is the
live exposition's, name for name."""

from __future__ import annotations

import asyncio
import re
from collections import namedtuple
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from polyad.collectors.cpu import CpuCollector
from polyad.collectors.disk import DiskCollector
from polyad.collectors.filesystem import FilesystemCollector
from polyad.collectors.gpu import GpuCollector
from polyad.collectors.memory import MemoryCollector
from polyad.collectors.network import NetworkCollector
from polyad.collectors.sensors import SensorsCollector
from polyad.collectors.system import SystemCollector
from tests.conftest import MakeClient
from tests.fakes.nvml import FakeGpu, FakeNvml
from tests.fixtures import make_host

README = Path(__file__).resolve().parent.parent / "README.md"
SERIES_PAGE = README.parent / "docs" / "prometheus.md"
Reading = namedtuple("Reading", "label current high critical")
Counters = namedtuple("Counters", "bytes_sent bytes_recv packets_sent packets_recv errin errout "
                                  "dropin dropout")
Stats = namedtuple("Stats", "isup duplex speed mtu flags")


def documented_series() -> set[str]:
    text = SERIES_PAGE.read_text(encoding="utf-8")
    table = text.split("<!-- series")[1].split("<!-- /series -->")[0]
    names = re.findall(r"`([a-z][a-z0-9_]*)`", table)
    labels = set(re.findall(r"\| ((?:`[a-z_]+`(?:, )?)+) \|\n", table))
    label_names = {name for group in labels for name in re.findall(r"`([a-z_]+)`", group)}
    return set(names) - label_names


def every_source() -> list[object]:
    """Real CPU and memory; a GPU, sensors, a NIC with a link speed and pressure stall
    (kernel PSI), disks and mounts, which a CI machine may lack, from fakes at their sources or
    the made-up host."""
    procfs = make_host.ROOT / "proc"
    return [
        CpuCollector(), MemoryCollector(), GpuCollector(FakeNvml([FakeGpu()])),
        SystemCollector(procfs), DiskCollector(procfs, make_host.ROOT / "sys"),
        FilesystemCollector(procfs, make_host.ROOT / "root", statvfs=make_host.statvfs),
        SensorsCollector(lambda: {"coretemp": [Reading("Package id 0", 50.0, 80.0, 100.0)]},
                         lambda: {"nct6775": [("CPU Fan", 1250.0)]}),
        NetworkCollector(read_counters=lambda: {"eth0": Counters(1, 2, 3, 4, 0, 0, 0, 0)},
                         read_stats=lambda: {"eth0": Stats(True, 2, 1000, 1500, "up")}),
    ]


ALWAYS_FIRING = """\
groups:
  - name: readme
    interval: 100ms
    rules:
      - {alert: MemoryInUse, metric: memory.usage, op: ">=", threshold: 0}
"""


async def test_every_exposed_series_is_documented_and_nothing_more(
    make_client: MakeClient, tmp_path: Path,
) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(ALWAYS_FIRING)  # an alert, so that the alerts' series is there too
    client = await make_client(use_collectors=every_source(), sampler={"interval": "300ms"},
                               alerts={"rule_files": [str(rules)]})
    accepted = await (await client.post("/task", json={"type": "system",
                                                       "action": "noop"})).json()
    families: set[str] = set()
    for _ in range(50):  # until CPU has a window and the task's metrics are in
        await asyncio.sleep(0.1)
        text = await (await client.get("/metrics/prom")).text()
        families = {family.name + ("_total" if family.type == "counter" else "")
                    for family in text_string_to_metric_families(text)}
        if {"system_cpu_utilization", "polyad_tasks_completed_total", "polyad_alerts"} <= \
                families:
            break
    assert accepted["status"] == "accepted"
    assert documented_series() == families
