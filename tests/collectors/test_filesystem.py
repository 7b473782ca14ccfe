"""The filesystem collector on the made-up host's mounts (tests/fixtures/host), statted through
the host's `statvfs` table, through the real `os.statvfs`, and through one that hangs forever
as a dead NFS server's does."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from polyad.collectors.filesystem import FilesystemCollector, FilesystemSample, MountUsage
from polyad.collectors.mounts import read_mounts
from polyad.collectors.statfs import StatResult
from tests.fixtures import make_host

PROC, ROOTFS = make_host.ROOT / "proc", make_host.ROOT / "root"
GIB = 1024**3


def _by_mountpoint(sample: FilesystemSample) -> dict[str, MountUsage]:
    return {usage.mount.mountpoint: usage for usage in sample.mounts}


def test_pseudo_and_network_filesystems_are_left_out_by_default() -> None:
    sample = FilesystemCollector(PROC, ROOTFS, statvfs=make_host.statvfs).collect()
    assert [usage.mount.mountpoint for usage in sample.mounts] == [
        "/", "/run", "/boot/efi", "/home", "/mnt/backup", "/media/usb stick", "/tmp"]


def test_space_and_inodes_are_as_df_says() -> None:
    mounts = _by_mountpoint(FilesystemCollector(PROC, ROOTFS,
                                                statvfs=make_host.statvfs).collect())
    root = mounts["/"]
    assert (root.mount.device, root.mount.fstype, root.mount.read_only) == (
        "/dev/nvme0n1p1", "ext4", False)
    assert root.space is not None
    assert (root.space.size_bytes, root.space.used_bytes, root.space.available_bytes,
            root.space.reserved_bytes) == (100 * GIB, 60 * GIB, 35 * GIB, 5 * GIB)
    assert root.space.usage_percent == 63.2       # 60 / (60 + 35), reserved left out
    assert (root.space.inodes_used, root.space.inodes_usage_percent) == (1_553_600, 23.7)


def test_the_odd_mounts() -> None:
    mounts = _by_mountpoint(FilesystemCollector(PROC, ROOTFS,
                                                statvfs=make_host.statvfs).collect())
    backup, efi, tmp = mounts["/mnt/backup"], mounts["/boot/efi"], mounts["/tmp"]
    assert backup.mount.read_only and backup.space is not None
    assert backup.space.usage_percent == 100.0    # only root's reserve left
    assert efi.space is not None and efi.space.inodes_usage_percent is None  # no inode table
    assert tmp.space is not None and tmp.space.size_bytes == 262_144 * 4096  # the top /tmp
    assert mounts["/media/usb stick"].mount.device == "/dev/sdc1"   # \040 read back


def test_network_filesystems_when_asked() -> None:
    share = _by_mountpoint(FilesystemCollector(PROC, ROOTFS, network=True,
                                               statvfs=make_host.statvfs).collect())["/srv/share"]
    assert (share.mount.device, share.mount.fstype, share.stale) == (
        "nas:/export/share", "nfs4", False)
    assert share.space is not None and share.space.size_bytes == 2_000_000 * 1048576


def test_a_failing_statfs_is_that_mount_s_error_only() -> None:
    def statvfs(path: str) -> StatResult:
        if path.endswith("home"):
            raise PermissionError(13, "Permission denied", path)
        return make_host.statvfs(path)

    mounts = _by_mountpoint(FilesystemCollector(PROC, ROOTFS, statvfs=statvfs).collect())
    assert (mounts["/home"].space, mounts["/home"].error) == (None, "PermissionError: "
                                                                    "Permission denied")
    assert mounts["/"].space is not None


def test_the_real_statvfs_reads_the_rootfs_tree() -> None:
    mounts = FilesystemCollector(PROC, ROOTFS).collect().mounts
    total = shutil.disk_usage(ROOTFS).total
    assert mounts and all(usage.space is not None and usage.space.size_bytes == total
                          for usage in mounts)


def test_mountinfo_falls_back_to_the_reader_s_own(tmp_path: Path) -> None:
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "mountinfo").write_text(
        "22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
        "23 22 0:21 / /broken rw\n")     # no separator: skipped
    assert [(mount.device, mount.mountpoint) for mount in read_mounts(tmp_path)] == [
        ("/dev/vda1", "/")]


# -- a hung NFS mount ------------------------------------------------------------------------
@pytest.fixture
def hung_nfs() -> Iterator[threading.Event]:
    """An `os.statvfs` whose NFS mount never answers until the test releases it."""
    release = threading.Event()
    yield release
    release.set()   # the daemon threads end with the test


def _hanging_statvfs(release: threading.Event) -> Callable[[str], StatResult]:
    def statvfs(path: str) -> StatResult:
        if path.endswith("share"):
            release.wait()
        return make_host.statvfs(path)
    return statvfs


def test_a_hung_mount_is_stale_and_never_holds_up_the_tick(hung_nfs: threading.Event) -> None:
    collector = FilesystemCollector(PROC, ROOTFS, network=True, network_timeout_s=0.2,
                                    statvfs=_hanging_statvfs(hung_nfs))
    threads_before = threading.active_count()
    durations = []
    for _ in range(10):
        started = time.perf_counter()
        mounts = _by_mountpoint(collector.collect())
        durations.append(time.perf_counter() - started)
        assert mounts["/srv/share"].stale and mounts["/srv/share"].space is None
        assert mounts["/"].space is not None
    assert durations[0] < 2.0                      # the first tick waits its timeout once
    assert max(durations[1:]) < 0.2                # later ones do not wait on it again
    assert collector.hanging == 1
    assert threading.active_count() <= threads_before + 1   # one thread for the mount, not ten

    hung_nfs.set()
    deadline = time.monotonic() + 5
    while collector.hanging and time.monotonic() < deadline:
        time.sleep(0.01)
    share = _by_mountpoint(collector.collect())["/srv/share"]
    assert (share.stale, share.space is not None) == (False, True)   # back once it answers


def test_a_kernel_remount_after_errors_is_told_from_a_read_only_mount(tmp_path: Path) -> None:
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "mountinfo").write_text(
        # the kernel's errors=remount-ro: the superblock is read-only, the mount still says rw
        "40 22 8:49 / /var/lib/db rw,relatime shared:50 - ext4 /dev/sdd1 ro,errors=remount-ro\n"
        # read-only on purpose, by mount option or by a bind mount's flag
        "41 22 8:17 / /mnt/backup ro,relatime shared:32 - ext4 /dev/sdb1 ro\n"
        "42 22 8:1 /data /srv/data ro,relatime shared:33 - ext4 /dev/sda1 rw\n")
    flags = {mount.mountpoint: (mount.read_only, mount.remounted_read_only)
             for mount in read_mounts(tmp_path)}
    assert flags == {"/var/lib/db": (True, True), "/mnt/backup": (True, False),
                     "/srv/data": (True, False)}


def test_a_mount_made_or_gone_shows_at_the_next_tick(tmp_path: Path) -> None:
    procfs = tmp_path / "proc"
    (procfs / "1").mkdir(parents=True)
    line = "22 1 259:1 / {} rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw\n"
    mountinfo = procfs / "1" / "mountinfo"
    mountinfo.write_text(line.format("/"))
    collector = FilesystemCollector(procfs, ROOTFS, statvfs=make_host.statvfs)
    assert [usage.mount.mountpoint for usage in collector.collect().mounts] == ["/"]
    mountinfo.write_text(line.format("/") + line.format("/home"))
    assert [usage.mount.mountpoint for usage in collector.collect().mounts] == ["/", "/home"]
    mountinfo.write_text(line.format("/home"))
    assert [usage.mount.mountpoint for usage in collector.collect().mounts] == ["/home"]
