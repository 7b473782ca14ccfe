"""Fake GPUs for the cost curve: the tests' fake NVML (tests/fakes/nvml.py, faked at the
binding's edge, so the collector's code is production's) with N devices and the made-up host's
GPU processes spread over them. An agent in a subprocess gets it as its `pynvml` module through
a shim on its PYTHONPATH (`write_shim`)."""

from __future__ import annotations

from pathlib import Path

from bench.big_host import FIRST_PID
from tests.fakes.nvml import FakeGpu, FakeNvml, FakeProcess
from tests.fakes.nvml_shim import write_pynvml_shim

__all__ = ["fake_binding", "write_shim"]

GIB = 1024**3


def fake_binding(gpus: int, processes: int) -> FakeNvml:
    devices = []
    for index in range(gpus):
        pids = [FIRST_PID + n for n in range(processes) if n % gpus == index]
        devices.append(FakeGpu(uuid=f"GPU-{index:08d}-0000-0000-0000-000000000000",
                               utilization=20 + index, temperature=60 + index,
                               processes=[FakeProcess(pid, (1 + n) * GIB // 4, 5 + n % 50)
                                          for n, pid in enumerate(pids)]))
    return FakeNvml(devices)


def write_shim(directory: Path, gpus: int, processes: int) -> dict[str, str]:
    """A `pynvml.py` in `directory` that is `fake_binding(gpus, processes)`: the agent's
    environment for it."""
    return write_pynvml_shim(directory, "from bench.fake_gpus import fake_binding\n"
                                        f"_FAKE = fake_binding({gpus}, {processes})")
