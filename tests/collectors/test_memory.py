from __future__ import annotations

from pathlib import Path

import psutil

from polyad.collectors.memory import MemoryCollector, read_meminfo

GIB = 1024**3
MEMINFO = """\
MemTotal:       16777216 kB
MemFree:         1048576 kB
MemAvailable:   12582912 kB
Buffers:          524288 kB
Cached:          8388608 kB
SwapTotal:       2097152 kB
SwapFree:        1572864 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
"""


def on(tmp_path: Path, meminfo: str) -> MemoryCollector:
    (tmp_path / "meminfo").write_text(meminfo)
    return MemoryCollector(tmp_path)


def test_used_is_total_minus_available_so_it_agrees_with_the_percent(tmp_path: Path) -> None:
    sample = on(tmp_path, MEMINFO).collect()
    assert sample.total_bytes == 16 * GIB
    assert sample.available_bytes == 12 * GIB
    assert sample.used_bytes == 4 * GIB
    assert sample.usage_percent == 25.0
    assert (sample.swap_total_bytes, sample.swap_used_bytes) == (2 * GIB, GIB // 2)


def test_counts_without_a_unit_stay_counts(tmp_path: Path) -> None:
    (tmp_path / "meminfo").write_text(MEMINFO)
    fields = read_meminfo(tmp_path / "meminfo")
    assert fields["HugePages_Total"] == 0
    assert fields["Hugepagesize"] == 2 * 1024 * 1024


def test_a_kernel_before_memavailable_counts_free_buffers_and_cache(tmp_path: Path) -> None:
    old_kernel = "".join(line + "\n" for line in MEMINFO.splitlines()
                         if not line.startswith(("MemAvailable", "Swap")))
    sample = on(tmp_path, old_kernel).collect()
    assert sample.available_bytes == (1 + 0.5 + 8) * GIB
    assert (sample.swap_total_bytes, sample.swap_used_bytes) == (0, 0)


def test_on_this_host() -> None:
    sample = MemoryCollector().collect()
    assert sample.total_bytes == psutil.virtual_memory().total
    assert 0 < sample.available_bytes <= sample.total_bytes
    assert 0.0 <= sample.usage_percent <= 100.0
    assert sample.swap_total_bytes == psutil.swap_memory().total
