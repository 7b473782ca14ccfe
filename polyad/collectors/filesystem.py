"""Disk space and inodes per mounted filesystem, as `df` reports them: the host's mounts (see
`mounts`), each statted under `host.rootfs`. Pseudo filesystems are left out; network ones are
off by default and, when on, statted through `GuardedStatfs`, so a hung server makes its mount
`stale` instead of holding up the tick."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from polyad.collectors.base import (
    PERCENT,
    CollectorSpec,
    JsonPiece,
    MetricSpec,
    PieceModel,
    Reading,
)
from polyad.collectors.mounts import (
    PSEUDO_MOUNTPOINTS,
    PSEUDO_TYPES,
    Mount,
    parse_mounts,
    read_mountinfo,
)
from polyad.collectors.statfs import GuardedStatfs, StatResult
from polyad.config import CollectorConfig, HostConfig
from polyad.config.base import Seconds
from polyad.units import format_bytes

__all__ = ["SPEC", "FilesystemCollector", "FilesystemConfig", "FilesystemSample", "MountUsage",
           "Space"]


@dataclass(frozen=True, slots=True)
class Space:
    size_bytes: int
    free_bytes: int          # free blocks, the root-reserved ones included
    available_bytes: int     # free to unprivileged users
    inodes_total: int
    inodes_free: int

    @property
    def used_bytes(self) -> int:
        return self.size_bytes - self.free_bytes

    @property
    def reserved_bytes(self) -> int:
        return self.free_bytes - self.available_bytes

    @property
    def usage_percent(self) -> float | None:
        """As df's Use%: used against what users could ever fill (reserved blocks left out)."""
        usable = self.used_bytes + self.available_bytes
        return round(100.0 * self.used_bytes / usable, 1) if usable else None

    @property
    def inodes_used(self) -> int:
        return self.inodes_total - self.inodes_free

    @property
    def inodes_usage_percent(self) -> float | None:
        """None where the filesystem has no fixed inode table (btrfs, tmpfs on some kernels)."""
        return (round(100.0 * self.inodes_used / self.inodes_total, 1)
                if self.inodes_total else None)

    @classmethod
    def of(cls, stat: StatResult) -> Space:
        return cls(stat.f_blocks * stat.f_frsize, stat.f_bfree * stat.f_frsize,
                   stat.f_bavail * stat.f_frsize, stat.f_files, stat.f_ffree)


@dataclass(frozen=True, slots=True)
class MountUsage:
    mount: Mount
    space: Space | None      # None: stale, or its statfs failed
    stale: bool = False      # no answer within the network timeout
    error: str | None = None


@dataclass(frozen=True, slots=True)
class FilesystemSample:
    mounts: tuple[MountUsage, ...]


class FilesystemCollector:
    name = "filesystem"
    no_data: str | None = None

    def __init__(self, procfs: Path = Path("/proc"), rootfs: Path = Path("/"), *,
                 exclude_types: Sequence[str] = PSEUDO_TYPES,
                 exclude_mountpoints: Sequence[str] = PSEUDO_MOUNTPOINTS,
                 network: bool = False, network_timeout_s: float = 0.5,
                 statvfs: Callable[[str], StatResult] = os.statvfs) -> None:
        self._procfs, self._rootfs = procfs, rootfs
        self._exclude_types = frozenset(exclude_types)
        self._exclude_mountpoints = tuple(exclude_mountpoints)
        self._network = network
        self._statvfs = statvfs
        self._guarded = GuardedStatfs(network_timeout_s, statvfs)
        # The mount table as last read, and its reported mounts with where each is statted:
        # parsed and filtered again only when the table changed.
        self._table: tuple[str, list[tuple[Mount, str]]] = ("", [])

    def collect(self) -> FilesystemSample:
        mounts = self._reported_mounts()
        remote = self._guarded.stat_all([where for mount, where in mounts if mount.is_network])
        usages = tuple(self._usage(mount, where, remote) for mount, where in mounts)
        self.no_data = None if usages else "no mount matches the filesystem collector's filters"
        return FilesystemSample(usages)

    def _reported_mounts(self) -> list[tuple[Mount, str]]:
        text = read_mountinfo(self._procfs)
        if text != self._table[0]:
            self._table = (text, [(mount, self._where(mount)) for mount in parse_mounts(text)
                                  if self._reported(mount)])
        return self._table[1]

    def _reported(self, mount: Mount) -> bool:
        if mount.fstype in self._exclude_types or (mount.is_network and not self._network):
            return False
        return not any(fnmatch.fnmatchcase(mount.mountpoint, pattern)
                       for pattern in self._exclude_mountpoints)

    def _where(self, mount: Mount) -> str:
        return str(self._rootfs / mount.mountpoint.lstrip("/"))

    def _usage(self, mount: Mount, where: str,
               remote: dict[str, StatResult | OSError | None]) -> MountUsage:
        if mount.is_network:
            stat = remote[where]
            if stat is None:
                return MountUsage(mount, None, stale=True)
        else:
            try:
                stat = self._statvfs(where)
            except OSError as error:
                stat = error
        if isinstance(stat, OSError):
            return MountUsage(mount, None, error=f"{type(stat).__name__}: {stat.strerror}")
        return MountUsage(mount, Space.of(stat))

    @property
    def hanging(self) -> int:
        return self._guarded.hanging

    def close(self) -> None:
        pass   # a thread still in a hung statfs is a daemon: it dies with the process


# -- what it declares ----------------------------------------------------------------------
class FilesystemConfig(CollectorConfig):
    # Filesystem types and fnmatch patterns of mount points to leave out (node_exporter's).
    exclude_types: list[str] = Field(default_factory=lambda: list(PSEUDO_TYPES))
    """Filesystem types to leave out (pseudo filesystems, as node_exporter)."""
    exclude_mountpoints: list[str] = Field(default_factory=lambda: list(PSEUDO_MOUNTPOINTS))
    """fnmatch patterns of mount points to leave out."""
    # NFS, CIFS, sshfs …: off, since a gone server can hang statfs; when on, each mount waits
    # at most `network_timeout` and is `stale` after that.
    network: bool = False
    """Watch network filesystems (NFS, CIFS, sshfs) too; a gone server can hang statfs."""
    network_timeout: Seconds = 0.5
    """Each network mount waits at most this, and is `stale` after."""


class MountMetrics(PieceModel):
    device: str
    mountpoint: str
    type: str
    read_only: bool
    remounted_read_only: bool = Field(description="Turned read-only by the kernel under a "
                                      "read-write mount, after errors (errors=remount-ro)")
    stale: bool = Field(description="Its statfs did not answer in time (a network filesystem "
                                    "whose server is gone); the sizes are null")
    error: str | None
    size: str | None = Field(description='Human size, e.g. "512GB"')
    size_bytes: int | None
    used: str | None
    used_bytes: int | None
    available: str | None = Field(description="Free to unprivileged users")
    available_bytes: int | None
    usage: float | None = Field(description="Percent used, as df's Use%")
    inodes_total: int | None
    inodes_used: int | None
    inodes_free: int | None
    inodes_usage: float | None = Field(description="Percent of inodes used; null without a "
                                                   "fixed inode table")


class FilesystemMetrics(PieceModel):
    mounts: list[MountMetrics]


def _mount_piece(usage: MountUsage) -> MountMetrics:
    mount, space = usage.mount, usage.space

    def human(size: int | None) -> str | None:
        return format_bytes(size) if size is not None else None

    size = space.size_bytes if space else None
    used = space.used_bytes if space else None
    available = space.available_bytes if space else None
    return MountMetrics(
        device=mount.device, mountpoint=mount.mountpoint, type=mount.fstype,
        read_only=mount.read_only, remounted_read_only=mount.remounted_read_only,
        stale=usage.stale, error=usage.error,
        size=human(size), size_bytes=size, used=human(used), used_bytes=used,
        available=human(available), available_bytes=available,
        usage=space.usage_percent if space else None,
        inodes_total=space.inodes_total if space else None,
        inodes_used=space.inodes_used if space else None,
        inodes_free=space.inodes_free if space else None,
        inodes_usage=space.inodes_usage_percent if space else None)


def _piece(sample: FilesystemSample | None) -> FilesystemMetrics:
    return FilesystemMetrics(mounts=[_mount_piece(usage)
                                     for usage in (sample.mounts if sample else ())])


_MOUNT = ("system.device", "system.filesystem.mountpoint", "system.filesystem.type")


def _labels(mount: Mount) -> tuple[str, str, str]:
    return mount.device, mount.mountpoint, mount.fstype


def _per_mount(read: Callable[[Space], float | None]) -> Callable[[FilesystemSample],
                                                                    list[Reading]]:
    """Mounts with no figures this tick (stale, failed) read None: no series, not zero."""
    def readings(sample: FilesystemSample) -> list[Reading]:
        return [(_labels(usage.mount), read(usage.space) if usage.space is not None else None)
                for usage in sample.mounts]
    return readings


def _by_state(states: tuple[tuple[str, Callable[[Space], int]], ...]
              ) -> Callable[[FilesystemSample], list[Reading]]:
    def readings(sample: FilesystemSample) -> list[Reading]:
        return [((*_labels(usage.mount), state), read(usage.space))
                for usage in sample.mounts if usage.space is not None
                for state, read in states]
    return readings


def _flag(read: Callable[[MountUsage], bool]) -> Callable[[FilesystemSample], list[Reading]]:
    def readings(sample: FilesystemSample) -> list[Reading]:
        return [(_labels(usage.mount), 1.0 if read(usage) else 0.0) for usage in sample.mounts]
    return readings


_SPACE_STATES = (("used", lambda space: space.used_bytes),
                 ("free", lambda space: space.available_bytes),
                 ("reserved", lambda space: space.reserved_bytes))
_INODE_STATES = (("used", lambda space: space.inodes_used),
                 ("free", lambda space: space.inodes_free))

_METRICS = (
    MetricSpec("system.filesystem.usage", None, "By",
               "Space by state: used, free (to unprivileged users), reserved (for root)",
               _by_state(_SPACE_STATES), labels=(*_MOUNT, "system.filesystem.state")),
    MetricSpec("system.filesystem.limit", "filesystem.mounts[].size_bytes", "By",
               "Size of the filesystem", _per_mount(lambda space: space.size_bytes),
               labels=_MOUNT),
    MetricSpec("system.filesystem.utilization", "filesystem.mounts[].usage", "1",
               "Share used, as df's Use% (reserved blocks left out)",
               _per_mount(lambda space: space.usage_percent), labels=_MOUNT,
               otel_scale=PERCENT),
    MetricSpec(None, "filesystem.mounts[].available_bytes", "By",
               "Space free to unprivileged users", _per_mount(lambda space:
                                                              space.available_bytes),
               labels=_MOUNT, promql=('system_filesystem_usage_bytes{system_filesystem_state='
                                      '"free"}', 1.0)),
    MetricSpec("system.filesystem.inodes.usage", None, "{inode}", "Inodes by state",
               _by_state(_INODE_STATES), labels=(*_MOUNT, "system.filesystem.state")),
    MetricSpec("polyad.filesystem.inodes.utilization", "filesystem.mounts[].inodes_usage", "1",
               "Share of inodes used", _per_mount(lambda space: space.inodes_usage_percent),
               labels=_MOUNT, otel_scale=PERCENT),
    MetricSpec("polyad.filesystem.read_only", "filesystem.mounts[].read_only", "",
               "1 when mounted read-only", _flag(lambda usage: usage.mount.read_only),
               labels=_MOUNT),
    MetricSpec("polyad.filesystem.remounted_read_only",
               "filesystem.mounts[].remounted_read_only", "",
               "1 when the kernel turned it read-only under a read-write mount, after errors",
               _flag(lambda usage: usage.mount.remounted_read_only), labels=_MOUNT),
    MetricSpec("polyad.filesystem.stale", "filesystem.mounts[].stale", "",
               "1 when its statfs did not answer in time (a hung network filesystem)",
               _flag(lambda usage: usage.stale), labels=_MOUNT),
)


def _build(config: FilesystemConfig, host: HostConfig) -> FilesystemCollector:
    return FilesystemCollector(host.procfs, host.rootfs, exclude_types=config.exclude_types,
                               exclude_mountpoints=config.exclude_mountpoints,
                               network=config.network,
                               network_timeout_s=config.network_timeout)


SPEC = CollectorSpec(
    name="filesystem", config=FilesystemConfig, build=_build, metrics=_METRICS,
    pieces=(JsonPiece("filesystem", FilesystemMetrics, _piece),),
    component="filesystem", monitored=("filesystem.mounts[].usage",))
