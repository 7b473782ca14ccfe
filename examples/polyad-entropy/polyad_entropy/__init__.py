"""An example collector from outside polyad: the kernel's entropy pool, from
`{host.procfs}/sys/kernel/random/`. Installed, it appears in /metrics, /metrics/prom, the
OpenAPI document, the configuration (`collectors.entropy`, off by default), alert rules and the
`system.monitor` task, with no edit to polyad."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from polyad.collectors.base import CollectorSpec, JsonPiece, MetricSpec, PieceModel, scalar
from polyad.config import CollectorConfig, HostConfig

__all__ = ["SPEC"]


@dataclass(frozen=True, slots=True)
class EntropySample:
    available_bits: int
    pool_bits: int


class EntropyConfig(CollectorConfig):
    enabled: bool = False  # off unless asked for


class EntropyCollector:
    name = "entropy"
    no_data: str | None = None

    def __init__(self, procfs: Path) -> None:
        self._random = procfs / "sys" / "kernel" / "random"

    def collect(self) -> EntropySample:
        return EntropySample(int((self._random / "entropy_avail").read_text()),
                             int((self._random / "poolsize").read_text()))

    def close(self) -> None:
        pass


class EntropyMetrics(PieceModel):
    available_bits: int | None = Field(description="Entropy the kernel's pool holds, in bits")
    pool_bits: int | None


def _piece(sample: EntropySample | None) -> EntropyMetrics:
    return EntropyMetrics(available_bits=sample.available_bits if sample else None,
                          pool_bits=sample.pool_bits if sample else None)


def _build(_: CollectorConfig, host: HostConfig) -> EntropyCollector:
    return EntropyCollector(host.procfs)


SPEC = CollectorSpec(
    name="entropy", config=EntropyConfig, build=_build,
    metrics=(MetricSpec("polyad.entropy.available", "entropy.available_bits", "{bit}",
                        "Entropy available in the kernel's pool",
                        lambda sample: scalar(sample.available_bits)),),
    pieces=(JsonPiece("entropy", EntropyMetrics, _piece),),
    component="entropy", monitored=("entropy.available_bits",))
