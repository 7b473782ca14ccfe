from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from polyad.collectors.base import USER_HZ
from polyad.collectors.cpu import MIN_WINDOW_S, CpuCollector, CpuTimes, read_cpu_times


def times(user: float, idle: float, iowait: float = 0.0, guest: float = 0.0) -> CpuTimes:
    return CpuTimes(user, 0.0, 0.0, idle, iowait, 0.0, 0.0, 0.0, guest, 0.0)


def scripted(*readings: list[CpuTimes]) -> Iterator[list[CpuTimes]]:
    yield from readings


def one_second_apart() -> Callable[[], float]:
    ticks = itertools.count()
    return lambda: float(next(ticks))


def make(readings: Iterator[list[CpuTimes]],
         load: tuple[float, float, float] | None = None) -> CpuCollector:
    return CpuCollector(read_times=lambda: next(readings), read_load=lambda: load,
                        clock=one_second_apart())


def test_usage_is_busy_time_over_elapsed_time_per_core_and_in_total() -> None:
    readings = scripted(
        [times(100, 100), times(100, 100)],
        [times(175, 125), times(110, 190)],   # core 0: 75% busy, core 1: 10% busy
    )
    collector = make(readings, load=(1.0, 0.5, 0.25))
    sample = collector.collect()
    assert sample.core_usage_percent == (75.0, 10.0)
    assert sample.usage_percent == 42.5  # (75 + 10) busy over 200 elapsed
    assert sample.load_average == (1.0, 0.5, 0.25)


def test_iowait_counts_as_idle_and_guest_time_is_not_counted_twice() -> None:
    readings = scripted(
        [times(0, 0)],
        [times(user=50, idle=25, iowait=25, guest=20)],  # guest is inside user already
    )
    sample = make(readings).collect()
    assert sample.usage_percent == 50.0
    assert sample.load_average is None


def test_no_elapsed_time_gives_null_not_zero() -> None:
    sample = make(iter([[times(10, 10)]] * 2)).collect()
    assert sample.usage_percent is None
    assert sample.core_usage_percent == (None,)


def test_a_core_going_offline_restarts_the_baseline() -> None:
    readings = scripted([times(1, 1), times(1, 1)], [times(2, 2)], [times(4, 2)])
    collector = make(readings)
    assert collector.collect().core_usage_percent == (None,)
    assert collector.collect().core_usage_percent == (100.0,)


def test_the_first_window_after_start_up_is_too_short_to_measure() -> None:
    now = {"s": 0.0}
    readings = scripted([times(0, 0)], [times(2, 0)], [times(62, 40)])
    collector = CpuCollector(read_times=lambda: next(readings), read_load=lambda: None,
                             clock=lambda: now["s"])
    now["s"] = 0.02
    early = collector.collect()
    assert early.usage_percent is None and early.core_usage_percent == (None,)
    now["s"] = 1.0
    assert collector.collect().usage_percent == 100.0  # from the start-up baseline
    now["s"] = 2.0
    assert collector.collect().usage_percent == 60.0
    now["s"] = 2.1  # a 100 ms interval: too short to measure, so the last value stands
    assert collector.collect().usage_percent == 60.0


def test_on_this_host() -> None:
    collector = CpuCollector()
    time.sleep(MIN_WINDOW_S)
    sample = collector.collect()
    assert len(sample.core_usage_percent) == psutil.cpu_count()
    assert sample.usage_percent is not None
    assert 0.0 <= sample.usage_percent <= 100.0
    assert all(v is None or 0.0 <= v <= 100.0 for v in sample.core_usage_percent)
    assert sample.load_average is not None and len(sample.load_average) == 3


def test_proc_stat_is_read_per_core_in_seconds_whatever_its_columns(tmp_path: Path) -> None:
    (tmp_path / "stat").write_text(
        f"cpu  {3 * USER_HZ} 0 0 {9 * USER_HZ}\n"
        f"cpu0 {USER_HZ} {2 * USER_HZ} 0 {4 * USER_HZ} 0 0 0 0 {USER_HZ} 0\n"
        f"cpu1 {2 * USER_HZ} 0 0 {5 * USER_HZ}\n"          # a kernel before iowait
        "intr 12345 1 2 3\nctxt 99\n")
    cores = read_cpu_times(tmp_path)
    assert cores == [CpuTimes(1.0, 2.0, 0.0, 4.0, guest=1.0), CpuTimes(2.0, 0.0, 0.0, 5.0)]


def test_proc_stat_agrees_with_psutil_on_this_host() -> None:
    ours = read_cpu_times(Path("/proc"))
    theirs = psutil.cpu_times(percpu=True)
    assert len(ours) == len(theirs)
    for mine, its in zip(ours, theirs, strict=True):
        # read a moment apart: each counter may have moved on by a few ticks
        assert its.idle - 1.0 <= mine.idle <= its.idle + 1.0
        assert its.user - 1.0 <= mine.user <= its.user + 1.0


@pytest.mark.parametrize("busy", [0.0, 100.0])
def test_bounds(busy: float) -> None:
    readings = scripted([times(0, 0)], [times(busy, 100 - busy)])
    sample = make(readings).collect()
    assert sample.usage_percent == busy
