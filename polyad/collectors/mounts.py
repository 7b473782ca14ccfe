"""The host's mounts, from `{procfs}/1/mountinfo` (PID 1's mount namespace: in a container with
the host's /proc mounted, the host's, not the container's), and which kinds of filesystem a
disk-space report leaves out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NETWORK_TYPES", "PSEUDO_MOUNTPOINTS", "PSEUDO_TYPES", "Mount", "read_mounts"]

# Kernel and container plumbing with no disk space of its own: node_exporter's default
# --collector.filesystem.fs-types-exclude, plus the few its users keep adding.
PSEUDO_TYPES = ("autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs",
                "devpts", "devtmpfs", "efivarfs", "fusectl", "hugetlbfs", "iso9660", "mqueue",
                "nsfs", "overlay", "proc", "procfs", "pstore", "ramfs", "rpc_pipefs",
                "securityfs", "selinuxfs", "squashfs", "erofs", "sysfs", "tracefs")
# node_exporter's default --collector.filesystem.mount-points-exclude, as fnmatch patterns.
PSEUDO_MOUNTPOINTS = ("/dev", "/dev/*", "/proc", "/proc/*", "/sys", "/sys/*",
                      "/run/credentials/*", "/var/lib/docker/*",
                      "/var/lib/containers/storage/*")
# Filesystems whose statfs goes over the network, and can hang for as long as the server is
# gone (node_exporter #244, #868, #1353).
NETWORK_TYPES = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "9p", "afs", "ceph",
                 "glusterfs", "lustre", "gpfs", "beegfs", "davfs", "fuse.sshfs",
                 "fuse.glusterfs", "fuse.s3fs", "fuse.rclone", "fuse.cephfs", "fuse.juicefs")

_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True, slots=True)
class Mount:
    device: str       # the source: /dev/sda1, server:/export, tmpfs
    mountpoint: str   # as the host sees it
    fstype: str
    read_only: bool

    @property
    def is_network(self) -> bool:
        return self.fstype in NETWORK_TYPES


def _unescaped(field: str) -> str:
    """mountinfo writes a space, tab, newline and backslash in a path as octal: `\\040`."""
    return _ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), field)


def _parse(line: str) -> Mount | None:
    """`36 35 98:0 /root /mnt rw,noatime master:1 - ext4 /dev/sda1 rw,errors=continue`: the
    optional fields end at `-`; the mount is read-only if its own options or its
    superblock's say `ro`."""
    fields = line.split()
    try:
        separator = fields.index("-", 6)
        fstype, device, super_options = fields[separator + 1:separator + 4]
    except ValueError:
        return None
    read_only = "ro" in fields[5].split(",") or "ro" in super_options.split(",")
    return Mount(_unescaped(device), _unescaped(fields[4]), fstype, read_only)


def read_mounts(procfs: Path) -> list[Mount]:
    """Every mount, in mount order; a path mounted over more than once is the last (the one
    seen there). Falls back to the reader's own namespace where PID 1 cannot be read."""
    try:
        text = (procfs / "1" / "mountinfo").read_text()
    except OSError:
        text = (procfs / "self" / "mountinfo").read_text()
    visible: dict[str, Mount] = {}
    for line in text.splitlines():
        mount = _parse(line)
        if mount is not None:
            visible.pop(mount.mountpoint, None)
            visible[mount.mountpoint] = mount
    return list(visible.values())
