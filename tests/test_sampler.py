from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from polyad.collectors import CpuSample, MemorySample
from polyad.sampler import Sampler


class Scripted:
    """A collector whose collect() runs the given function."""

    no_data: str | None = None

    def __init__(self, name: str, collect: Callable[[], object]) -> None:
        self.name = name
        self._collect = collect
        self.calls = 0
        self.closed = False

    def collect(self) -> object:
        self.calls += 1
        return self._collect()

    def close(self) -> None:
        self.closed = True


MEMORY = MemorySample(16, 8, 8, 50.0, 0, 0)
CPU = CpuSample(10.0, (10.0,), None)


def broken() -> object:
    raise RuntimeError("sensor bus on fire")


async def test_a_failing_collector_is_reported_and_the_rest_still_serve() -> None:
    sampler = Sampler([Scripted("cpu", broken), Scripted("memory", lambda: MEMORY)],
                      interval_s=1.0, timeout_s=0.5)
    with capture_logs() as logs:
        first = await sampler.sample_once()
        await sampler.sample_once()
        recovered = Sampler([Scripted("cpu", lambda: CPU)], 1.0, 0.5)
        await recovered.sample_once()
    assert first.samples.get("memory") == MEMORY and "cpu" not in first.samples
    assert first.reports["cpu"].outcome == "failed"
    assert first.reports["cpu"].error == "RuntimeError: sensor bus on fire"
    assert first.reports["memory"].ok
    assert [name for name, report in first.reports.items() if not report.ok] == ["cpu"]
    # one warning for the failure streak, not one per tick
    assert [log["event"] for log in logs if log["log_level"] == "warning"] == ["collector failed"]
    sampler.close()


async def test_a_hung_collector_is_time_boxed_and_never_started_twice() -> None:
    release = threading.Event()
    hung = Scripted("gpu", lambda: release.wait(5))
    sampler = Sampler([hung, Scripted("memory", lambda: MEMORY)], interval_s=1.0, timeout_s=0.05)
    started = time.perf_counter()
    first = await sampler.sample_once()
    second = await sampler.sample_once()
    elapsed_s = time.perf_counter() - started
    assert elapsed_s < 0.5
    assert first.reports["gpu"].outcome == "timeout"
    assert second.reports["gpu"].outcome == "timeout"
    assert second.reports["gpu"].error == "still busy with an earlier tick"
    # the duration keeps growing while it hangs, so the metric shows the hang
    assert second.reports["gpu"].duration_s > first.reports["gpu"].duration_s >= 0.05
    assert hung.calls == 1
    assert second.samples.get("memory") == MEMORY
    sampler.close()
    assert not hung.closed  # not while its call is still running
    release.set()
    for _ in range(100):  # the stuck call returns; the next tick may run it again
        await asyncio.sleep(0.01)
        third = await sampler.sample_once()
        if third.reports["gpu"].ok:
            break
    assert hung.calls == 2
    assert hung.closed  # closed once the stuck call came back


async def test_snapshots_are_numbered_and_the_newest_is_published() -> None:
    sampler = Sampler([Scripted("memory", lambda: MEMORY)], interval_s=1.0, timeout_s=0.5)
    assert sampler.snapshot is None and sampler.snapshot_age_s() is None and sampler.is_stale()
    one = await sampler.sample_once()
    two = await sampler.sample_once()
    assert (one.seq, two.seq) == (1, 2)
    assert sampler.snapshot is two
    assert sampler.first_snapshot.is_set()
    assert two.taken_at >= one.taken_at
    with pytest.raises(AttributeError):
        two.seq = 5
    sampler.close()


async def run_for(sampler: Sampler, seconds: float) -> None:
    sampler.start()
    await asyncio.sleep(seconds)
    await sampler.stop()


async def test_the_loop_does_not_drift_by_the_time_collectors_take() -> None:
    ticks: list[float] = []

    def collect() -> MemorySample:
        ticks.append(time.monotonic())
        time.sleep(0.03)  # a sleep-after-work loop would tick every 130 ms
        return MEMORY

    sampler = Sampler([Scripted("memory", collect)], interval_s=0.1, timeout_s=1.0)
    await run_for(sampler, 1.05)
    spacing_s = (ticks[-1] - ticks[0]) / (len(ticks) - 1)
    assert spacing_s == pytest.approx(0.1, rel=0.12)
    sampler.close()


async def test_an_overrun_tick_skips_grid_points_instead_of_piling_up() -> None:
    durations = iter([0.0, 0.35] + [0.0] * 100)

    def collect() -> MemorySample:
        time.sleep(next(durations))
        return MEMORY

    sampler = Sampler([Scripted("memory", collect)], interval_s=0.1, timeout_s=1.0)
    with capture_logs() as logs:
        await run_for(sampler, 0.8)
    assert sampler.skipped_ticks >= 3
    assert sampler.snapshot is not None and sampler.snapshot.seq <= 6
    warnings = [log for log in logs if log["event"] == "sampler overran its interval"]
    assert [w["skipped_ticks"] for w in warnings] == [sampler.skipped_ticks]


async def test_overrun_warnings_are_rate_limited() -> None:
    sampler = Sampler([], interval_s=0.1, timeout_s=0.05)
    with capture_logs() as logs:
        for now_s in (0.0, 1.0, 30.0, 61.0):
            sampler._note_overrun(2, now_s)
    assert [log["skipped_ticks"] for log in logs] == [2, 6]
    assert sampler.skipped_ticks == 8
    sampler.close()


async def test_close_closes_every_collector_even_if_one_fails() -> None:
    class BadClose(Scripted):
        def close(self) -> None:
            raise OSError("already gone")

    good = Scripted("memory", lambda: MEMORY)
    sampler = Sampler([BadClose("gpu", lambda: None), good], interval_s=1.0, timeout_s=0.5)
    sampler.close()
    assert good.closed


def test_a_collector_stuck_forever_does_not_keep_the_process_alive(tmp_path: Path) -> None:
    script = tmp_path / "stuck.py"
    script.write_text(textwrap.dedent("""
        import asyncio, threading
        from polyad.sampler import Sampler

        class Stuck:
            name, no_data = "gpu", None
            def collect(self):
                threading.Event().wait()  # a driver call that never returns
            def close(self):
                pass

        async def main():
            sampler = Sampler([Stuck()], interval_s=1.0, timeout_s=0.05)
            snapshot = await sampler.sample_once()
            assert snapshot.reports["gpu"].outcome == "timeout"
            sampler.close()

        asyncio.run(main())
    """))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=20, check=False)
    assert result.returncode == 0, result.stderr


def _runner_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name == "polyad-collectors"}


async def test_one_thread_calls_every_collector_tick_after_tick() -> None:
    before = _runner_threads()
    memory = Scripted("memory", lambda: MEMORY)
    sampler = Sampler([Scripted("cpu", lambda: CPU), memory], interval_s=1.0, timeout_s=1.0)
    for _ in range(5):
        snapshot = await sampler.sample_once()
        assert snapshot.reports["memory"].ok and snapshot.reports["cpu"].ok
    runners = _runner_threads() - before
    assert len(runners) == 1
    assert memory.calls == 5
    sampler.close()
    for thread in runners:              # it ends once told to
        await asyncio.to_thread(thread.join, 5)
    assert not any(thread.is_alive() for thread in runners)


async def test_a_hung_collector_keeps_its_thread_and_the_others_get_a_new_one() -> None:
    before = _runner_threads()
    release = threading.Event()
    hung = Scripted("gpu", lambda: release.wait(5))
    after_it = Scripted("memory", lambda: MEMORY)
    sampler = Sampler([Scripted("cpu", lambda: CPU), hung, after_it], interval_s=1.0,
                      timeout_s=0.05)
    for _ in range(10):
        snapshot = await sampler.sample_once()
        assert snapshot.samples.get("memory") == MEMORY    # called after the hang, still served
        assert snapshot.reports["gpu"].outcome == "timeout"
    assert hung.calls == 1
    assert len(_runner_threads() - before) == 2   # the one stuck in the call, and the new one
    release.set()
    async with asyncio.timeout(5):     # the stuck call returns: its thread ends, gpu is freed
        while (await sampler.sample_once()).reports["gpu"].outcome != "ok":
            pass
    sampler.close()
    for thread in _runner_threads() - before:
        await asyncio.to_thread(thread.join, 5)
    assert not _runner_threads() - before
