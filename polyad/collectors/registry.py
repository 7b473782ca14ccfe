"""The collectors by name: the built-in ones (one line each below) and those other packages
install through the `polyad.collectors` entry point group, each a `CollectorSpec`. Everything
that knows of collectors (config sections, the catalog, the `GET /metrics` document, /status,
the `system.monitor` task) asks this table."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import replace
from importlib.metadata import entry_points
from typing import Any

import psutil
import structlog

from polyad.collectors import cpu, disk, filesystem, gpu, memory, network, sensors, system
from polyad.collectors.base import Collector, CollectorSpec
from polyad.config import CollectorConfig, CollectorsConfig, HostConfig
from polyad.errors import ConfigError

__all__ = ["ENTRY_POINT_GROUP", "build_collectors", "collector_specs", "section_models"]

ENTRY_POINT_GROUP = "polyad.collectors"
# The order is the snapshot's, and the `GET /metrics` document's.
BUILTIN: tuple[CollectorSpec, ...] = (cpu.SPEC, memory.SPEC, gpu.SPEC, network.SPEC, disk.SPEC,
                                      filesystem.SPEC, sensors.SPEC, system.SPEC)
log = structlog.get_logger(logger_name="polyad.collectors")


def _plugins(taken: set[str]) -> list[CollectorSpec]:
    """Each entry point names a CollectorSpec; a broken one, or one whose name is taken, is
    logged and left out, never fatal (as task handler plugins)."""
    found = []
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            spec = entry_point.load()
            if not isinstance(spec, CollectorSpec):
                raise TypeError(f"{entry_point.value} is not a CollectorSpec")
            if spec.name in taken:
                raise ValueError(f"a collector named {spec.name!r} is already registered")
        except Exception as error:
            log.warning("collector plugin not loaded", plugin=entry_point.name,
                        error=f"{type(error).__name__}: {error}")
            continue
        taken.add(spec.name)
        found.append(spec)
    return found


def _owned(spec: CollectorSpec) -> CollectorSpec:
    """Its metrics stamped with its name: each reads that collector's sample."""
    return replace(spec, metrics=tuple(replace(metric, collector=spec.name)
                                       for metric in spec.metrics))


@functools.cache
def collector_specs() -> Mapping[str, CollectorSpec]:
    specs = [*BUILTIN, *_plugins({spec.name for spec in BUILTIN})]
    return {spec.name: _owned(spec) for spec in specs}


def section_models() -> dict[str, type[CollectorConfig]]:
    return {name: spec.config for name, spec in collector_specs().items()}


def build_collectors(config: CollectorsConfig,
                     host: HostConfig | None = None) -> list[Collector[Any]]:
    """The enabled collectors, built for the host at `host`'s paths (the default: this one)."""
    host = host or HostConfig()
    if not (host.procfs / "stat").is_file():
        raise ConfigError(f"host.procfs = {str(host.procfs)!r}: no {host.procfs / 'stat'} there "
                          "(expected the watched host's /proc, e.g. mounted at /host/proc)")
    # psutil reads /proc through this one setting, for the whole process: the agent watches
    # one host, and tasks that list processes must see the same one.
    psutil.PROCFS_PATH = str(host.procfs)
    specs = collector_specs()
    return [specs[name].build(section, host) for name, section in config.sections().items()
            if section.enabled]
