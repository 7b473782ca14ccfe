"""What each GPU's processes use, by process name: memory (NVML's compute processes) and SM
utilization (NVML's per-process samples since the last tick).

Series must stay few and bounded (DESIGN.md, "Naming"): never a PID. So processes are summed by
name, only the `top` names using the most memory are kept, and the rest are summed into one entry
named `other`, so that a device's entries still add up to its whole. The cgroup is the one all
of a name's processes share (null where they differ or it cannot be read); it is in the JSON
only, never a label, since its path holds container ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from polyad.collectors.base import NoDataLog, read_text

__all__ = ["OTHER", "UNKNOWN", "GpuProcess", "ProcessReader", "process_cgroup", "process_name",
           "top_by_name"]

OTHER = "other"      # the processes past the top ones, summed
UNKNOWN = "unknown"  # a process whose name cannot be read (gone, or not ours to read)


@dataclass(frozen=True, slots=True)
class GpuProcess:
    name: str
    cgroup: str | None
    memory_used_bytes: int | None   # None: the driver does not say (Windows' WDDM)
    usage_percent: float | None     # SM utilization; None where the GPU has no process samples


def process_name(pid: int) -> str:
    try:
        return psutil.Process(pid).name() or UNKNOWN
    except psutil.Error:
        return UNKNOWN


def process_cgroup(pid: int) -> str | None:
    """The cgroup v2 path (`0::/…`), else the first hierarchy's, from the host's procfs."""
    text = read_text(Path(psutil.PROCFS_PATH) / str(pid) / "cgroup")
    if not text:
        return None
    lines = [line.split(":", 2) for line in text.splitlines() if line.count(":") >= 2]
    unified = [path for hierarchy, _, path in lines if hierarchy == "0"]
    paths = unified or [path for _, _, path in lines]
    return paths[0] if paths else None


def _sum(values: Iterable[float | int | None]) -> Any:
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def _merge(name: str, group: list[GpuProcess]) -> GpuProcess:
    cgroups = {entry.cgroup for entry in group}
    usage = _sum(entry.usage_percent for entry in group)
    return GpuProcess(name=name, cgroup=cgroups.pop() if len(cgroups) == 1 else None,
                      memory_used_bytes=_sum(entry.memory_used_bytes for entry in group),
                      usage_percent=round(usage, 1) if usage is not None else None)


def top_by_name(processes: Iterable[GpuProcess], top: int) -> tuple[GpuProcess, ...]:
    """Summed by name, the `top` names by memory then utilization, the rest summed as `other`."""
    by_name: dict[str, list[GpuProcess]] = {}
    for process in processes:
        by_name.setdefault(process.name, []).append(process)
    ranked = sorted((_merge(name, group) for name, group in by_name.items()),
                    key=lambda entry: (-(entry.memory_used_bytes or 0),
                                       -(entry.usage_percent or 0.0), entry.name))
    kept, rest = ranked[:top], ranked[top:]
    if rest:  # a process really named "other" joins the rest rather than doubling the name
        rest += [entry for entry in kept if entry.name == OTHER]
        kept = [entry for entry in kept if entry.name != OTHER]
        kept.append(_merge(OTHER, rest))
    return tuple(kept)


class ProcessReader:
    """Reads one GPU's processes each tick; remembers, per GPU, the newest utilization sample
    seen, so each tick averages only the samples taken since the one before."""

    def __init__(self, nvml: Any, no_data: NoDataLog, top: int,
                 name_of: Callable[[int], str] = process_name,
                 cgroup_of: Callable[[int], str | None] = process_cgroup) -> None:
        self._nvml = nvml
        self._no_data = no_data
        self._top = top
        self._name_of = name_of
        self._cgroup_of = cgroup_of
        self._last_seen_us: dict[int, int] = {}
        # pid → (name, cgroup), kept while the pid is on some GPU: asked once per process, not
        # once a tick (a PID reused within one tick would keep the name it had; rare enough)
        self._known: dict[int, tuple[str, str | None]] = {}
        self._seen_this_tick: set[int] = set()

    def read(self, index: int, handle: Any) -> tuple[GpuProcess, ...] | None:
        """The GPU's processes by name; None where it cannot list them. Per-process use is an
        extra: an NVML error here leaves it out (logged once), it never fails the GPU."""
        if self._top <= 0:
            return None
        nvml = self._nvml
        try:
            running = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
        except nvml.NVMLError as error:
            self._no_data.once(f"gpu {index} does not report its processes: {error}")
            return None
        usage = self._usage(index, handle)
        memory_by_pid: dict[int, int | None] = {}
        for info in running:  # a PID is listed once per MIG instance it runs on
            pid, used = int(info.pid), _bytes(info.usedGpuMemory)
            memory_by_pid[pid] = _sum((memory_by_pid.get(pid), used))
        return top_by_name((GpuProcess(*self._identity(pid), memory,
                                       usage.get(pid, 0.0) if usage is not None else None)
                            for pid, memory in memory_by_pid.items()), self._top)

    def _identity(self, pid: int) -> tuple[str, str | None]:
        self._seen_this_tick.add(pid)
        if pid not in self._known:
            self._known[pid] = (self._name_of(pid), self._cgroup_of(pid))
        return self._known[pid]

    def end_tick(self) -> None:
        """Forgets the processes no GPU listed this tick."""
        self._known = {pid: known for pid, known in self._known.items()
                       if pid in self._seen_this_tick}
        self._seen_this_tick = set()

    def _usage(self, index: int, handle: Any) -> dict[int, float] | None:
        """Mean SM utilization per PID over the samples since the last tick; a PID without a
        sample was idle (NVML keeps samples of processes that used the GPU only)."""
        nvml = self._nvml
        try:
            samples = nvml.nvmlDeviceGetProcessUtilization(handle,
                                                           self._last_seen_us.get(index, 0))
        except getattr(nvml, "NVMLError_NotFound", ()):  # no sample since the last tick
            return {}
        except nvml.NVMLError as error:
            self._no_data.once(f"gpu {index} does not report per-process utilization: {error}")
            return None
        per_pid: dict[int, list[float]] = {}
        for sample in samples:
            per_pid.setdefault(int(sample.pid), []).append(float(sample.smUtil))
            self._last_seen_us[index] = max(self._last_seen_us.get(index, 0),
                                            int(sample.timeStamp))
        return {pid: round(sum(values) / len(values), 1) for pid, values in per_pid.items()}


def _bytes(value: int | None) -> int | None:
    return int(value) if value is not None else None
