"""The host's mounts, from `{procfs}/1/mountinfo` (PID 1's mount namespace: in a container with
the host's /proc mounted, the host's, not the container's), and which kinds of filesystem a
disk-space report leaves out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from polyad.collectors.base import read_file

__all__ = ["NETWORK_TYPES", "PSEUDO_MOUNTPOINTS", "PSEUDO_TYPES", "Mount", "parse_mounts",
           "read_mountinfo", "read_mounts"]

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
    # Read-only under a read-write mount: the kernel's own doing after I/O or metadata errors
    # (ext4's errors=remount-ro). An operator's `mount -o remount,ro` or a `ro` mount sets
    # the mount's flag too, so neither counts.
    remounted_read_only: bool = False

    @property
    def is_network(self) -> bool:
        return self.fstype in NETWORK_TYPES


def _unescaped(field: str) -> str:
    """mountinfo writes a space, tab, newline and backslash in a path as octal: `\\040`."""
    return _ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), field)


def _parse(line: str) -> Mount | None:
    """`36 35 98:0 /root /mnt rw,noatime master:1 - ext4 /dev/sda1 rw,errors=continue`: the
    optional fields end at `-`; the mount is read-only if its own options (the mount's flag)
    or its superblock's say `ro`."""
    fields = line.split()
    try:
        separator = fields.index("-", 6)
        fstype, device, super_options = fields[separator + 1:separator + 4]
    except ValueError:
        return None
    mount_read_only = "ro" in fields[5].split(",")
    super_read_only = "ro" in super_options.split(",")
    return Mount(_unescaped(device), _unescaped(fields[4]), fstype,
                 mount_read_only or super_read_only,
                 remounted_read_only=super_read_only and not mount_read_only)


def read_mountinfo(procfs: Path) -> str:
    """PID 1's mount table, or the reader's own where PID 1's cannot be read."""
    try:
        return read_file(procfs / "1" / "mountinfo")
    except OSError:
        return read_file(procfs / "self" / "mountinfo")


def read_mounts(procfs: Path) -> list[Mount]:
    return parse_mounts(read_mountinfo(procfs))


def parse_mounts(text: str) -> list[Mount]:
    """Every mount, in mount order; a path mounted over more than once is the last (the one
    seen there)."""
    visible: dict[str, Mount] = {}
    for line in text.splitlines():
        mount = _parse(line)
        if mount is not None:
            visible.pop(mount.mountpoint, None)
            visible[mount.mountpoint] = mount
    return list(visible.values())
