"""What `system.monitor` samples from a snapshot, component by component."""

from __future__ import annotations

from polyad.tasks.builtin import COMPONENT_PATHS, _sample
from tests.fakes.samples import full_snapshot


def test_every_collector_with_a_component_is_one_to_monitor() -> None:
    assert set(COMPONENT_PATHS) == {"cpu", "memory", "gpu", "network", "disk", "filesystem",
                                    "temperature", "system"}


def test_a_per_device_path_gives_its_highest_value() -> None:
    values = _sample(full_snapshot(), ["filesystem", "disk", "memory"])
    # the fixture's / is 63.2 % used, /mnt/backup 100 %, /srv/share stale (no value)
    assert values["filesystem.mounts[].usage"] == 100.0
    assert values["disk.read_bytes_per_second"] == 1_048_576.0
    assert values["memory.usage"] == 50.0
