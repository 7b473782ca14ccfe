from __future__ import annotations

from types import SimpleNamespace

import psutil

from polyad.collectors.memory import MemoryCollector

GIB = 1024**3


def test_used_is_total_minus_available_so_it_agrees_with_the_percent() -> None:
    virtual = SimpleNamespace(total=16 * GIB, available=12 * GIB, percent=25.04, used=3 * GIB)
    swap = SimpleNamespace(total=2 * GIB, used=GIB // 2)
    sample = MemoryCollector(read_virtual=lambda: virtual, read_swap=lambda: swap).collect()
    assert sample.total_bytes == 16 * GIB
    assert sample.available_bytes == 12 * GIB
    assert sample.used_bytes == 4 * GIB
    assert sample.usage_percent == 25.0
    assert (sample.swap_total_bytes, sample.swap_used_bytes) == (2 * GIB, GIB // 2)


def test_on_this_host() -> None:
    sample = MemoryCollector().collect()
    assert sample.total_bytes == psutil.virtual_memory().total
    assert 0 < sample.available_bytes <= sample.total_bytes
    assert 0.0 <= sample.usage_percent <= 100.0
