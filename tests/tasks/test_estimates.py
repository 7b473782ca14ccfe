"""The estimate's arithmetic: learned durations, the workers' queue, and the time left."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from polyad.tasks.estimates import Durations, busy_workers, left_s, start_after
from polyad.tasks.model import TaskRecord
from tests.conftest import AppClient, MakeClient
from tests.tasks.helpers import submit, wait_for_status


def test_a_declared_duration_is_scaled_by_the_learned_ratio() -> None:
    durations = Durations()
    assert durations.expected_s("system.noop", 0.0, 2.0) == 2.0  # nothing learned: as declared
    durations.observe("system.noop", 0.0, 2.0, 2.2)
    assert durations.expected_s("system.noop", 0.0, 4.0) == pytest.approx(4.4)
    # too short a declaration to scale by: the durations of such runs
    assert durations.expected_s("system.noop", 0.0, 0.0) == 0.0
    durations.observe("system.noop", 0.0, 0.0, 0.003)
    assert durations.expected_s("system.noop", 0.0, 0.01) == pytest.approx(0.003)


def test_the_first_runs_replace_the_first_guess_then_it_moves_slowly() -> None:
    durations = Durations()
    assert durations.expected_s("vision.stats", 5.0, None) == 5.0
    durations.observe("vision.stats", 5.0, None, 1.0)
    assert durations.expected_s("vision.stats", 5.0, None) == pytest.approx(1.0)
    durations.observe("vision.stats", 5.0, None, 3.0)
    assert durations.expected_s("vision.stats", 5.0, None) == pytest.approx(2.0)  # their mean
    for _ in range(20):
        durations.observe("vision.stats", 5.0, None, 2.0)
    durations.observe("vision.stats", 5.0, None, 12.0)  # one outlier moves it a fifth
    assert durations.expected_s("vision.stats", 5.0, None) == pytest.approx(4.0, abs=0.01)


@pytest.mark.parametrize(("work_s", "busy_s", "starts_s"), [
    (0.0, [0.0, 0.0], 0.0),        # a free worker: at once
    (3.0, [0.0], 3.0),             # one worker: after the work ahead
    (1.0, [0.5, 2.0], 1.5),        # on the worker free first
    (4.0, [0.5, 2.0], 3.25),       # both take it, once the second frees
    (0.0, [1.0, 1.0], 1.0),        # every worker busy: the first to free
])
def test_the_work_ahead_goes_to_the_workers_as_each_frees(
    work_s: float, busy_s: list[float], starts_s: float,
) -> None:
    assert start_after(work_s, busy_s) == pytest.approx(starts_s)


def test_busy_workers_pads_idle_ones_and_counts_no_overrun_below_zero() -> None:
    assert busy_workers([3.0, -1.0], 4) == [0.0, 0.0, 0.0, 3.0]
    assert busy_workers([], 1) == [0.0]


def _record(**fields: object) -> TaskRecord:
    return TaskRecord(task_id="a" * 32, type="system", action="noop", priority="normal",
                      data={}, **fields)  # type: ignore[arg-type]


def test_time_left_counts_down_in_the_queue_and_follows_the_pace_past_the_expected() -> None:
    queued = _record(enqueued_at_s=100.0, estimated_s=10.0, expected_s=2.0)
    assert left_s(queued, now_s=103.0) == pytest.approx(7.0)
    assert left_s(queued, now_s=120.0) == pytest.approx(2.0)  # late: at least its own run
    running = _record(status="running", expected_s=4.0,
                      started_at=datetime.fromtimestamp(200.0, UTC))
    assert left_s(running, now_s=201.0) == pytest.approx(3.0)
    running.progress = 0.5  # past its expected 4 s, half done in 5 s: 5 s more
    assert left_s(running, now_s=205.0) == pytest.approx(5.0)
    running.progress = 0.05  # too little said to go by
    assert left_s(running, now_s=205.0) == 0.0
    running.finish("succeeded")
    assert left_s(running, now_s=203.0) == 0.0


# -- through the API, on both backends ---------------------------------------------------


async def test_tasks_behind_running_work_are_told_when_they_will_be_done(
    make_client: MakeClient,
) -> None:
    """The issue's case: one worker, a 1 s task running, six 0.2 s ones behind it."""
    client = await make_client(tasks={"workers": 1})
    blocker = await submit(client, {"type": "system", "action": "noop",
                                    "data": {"seconds": 1.0}})
    running = await wait_for_status(client, blocker["task_id"], "running")
    started_s = datetime.fromisoformat(running["started_at"]).timestamp()
    estimates = []
    for _ in range(6):
        accepted = await submit(client, {"type": "system", "action": "noop",
                                         "data": {"seconds": 0.2}})
        estimates.append((time.time(), accepted["estimated_seconds"]))
    for number, (asked_s, estimate_s) in enumerate(estimates, start=1):
        # the blocker's end, then `number` tasks of 0.2 s (declared, nothing learned yet)
        expected_s = started_s + 1.0 + 0.2 * number - asked_s
        assert estimate_s == pytest.approx(expected_s, abs=0.15), (number, estimates)


async def test_a_monitors_estimate_is_its_duration_and_counts_down_as_it_runs(
    client: AppClient,
) -> None:
    accepted = await submit(client, {"type": "system", "action": "monitor",
                                     "data": {"components": ["memory"], "duration": 1.5,
                                              "interval": 0.1}})
    assert accepted["estimated_seconds"] == pytest.approx(1.5, abs=0.1)
    await wait_for_status(client, accepted["task_id"], "running")
    first = (await (await client.get(f"/task/{accepted['task_id']}")).json())
    deadline = time.monotonic() + 5
    while (now := await (await client.get(f"/task/{accepted['task_id']}")).json())[
            "progress"] < 0.5:
        assert time.monotonic() < deadline, now
        await asyncio.sleep(0.05)
    assert now["status"] == "running"  # halfway: 0.75 s before its end
    assert now["estimated_seconds"] < first["estimated_seconds"]
    assert now["estimated_seconds"] == pytest.approx(1.5 * (1 - now["progress"]), abs=0.3)
    done = await wait_for_status(client, accepted["task_id"], "succeeded")
    assert done["estimated_seconds"] == 0.0
