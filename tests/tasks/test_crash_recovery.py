"""The Redis backend's promise, on a real agent process: killed with SIGKILL mid-run and
started again, it finishes every task it had accepted, each exactly once."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent_process import Agent, environment, get_json, submit_task
from tests.conftest import REDIS_URL, make_token

TASKS = 50
TASK_SECONDS = 0.4   # 50 tasks on 4 workers: about 5 s of work, so the kill lands mid-run


@pytest.fixture
def agent_settings(tmp_path: Path, redis_prefix: str) -> dict[str, str]:
    return {**environment(tmp_path), "POLYAD_TASKS__BACKEND": "redis",
            "POLYAD_TASKS__AGENT_ID": "crash-test", "POLYAD_TASKS__LEASE": "2s",
            "POLYAD_TASKS__WORKERS": "4", "POLYAD_REDIS__URL": REDIS_URL,
            "POLYAD_REDIS__PREFIX": redis_prefix, "POLYAD_RATE_LIMIT__ENABLED": "false"}


@pytest.fixture
def agent(agent_settings: dict[str, str], tmp_path: Path) -> Iterator[Agent]:
    started = Agent(agent_settings, tmp_path / "agent.log")
    yield started
    started.stop()


def test_every_accepted_task_succeeds_once_after_a_sigkill(agent: Agent) -> None:
    token, port = make_token(), agent.port
    first = agent.start()
    ids = [submit_task(port, token, seconds=TASK_SECONDS) for _ in range(TASKS)]
    time.sleep(1.0)  # some finished, four running, the rest queued
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    agent.start()

    deadline = time.monotonic() + 60
    records: dict[str, dict[str, object]] = {}
    while time.monotonic() < deadline:
        records = {task_id: get_json(f"http://127.0.0.1:{port}/task/{task_id}", token)
                   for task_id in ids}
        if all(record["status"] == "succeeded" for record in records.values()):
            break
        time.sleep(0.5)
    statuses = [record["status"] for record in records.values()]
    assert statuses == ["succeeded"] * TASKS, statuses
    attempts = sorted(int(str(record["attempts"])) for record in records.values())
    # the ones running at the kill ran again (the only way to finish them), none more than that
    assert attempts[0] == 1 and attempts[-1] == 2, attempts
    listed = get_json(f"http://127.0.0.1:{port}/tasks?limit=1000&status=succeeded", token)
    tasks: list[dict[str, str]] = listed["tasks"]  # type: ignore[assignment]
    listed_ids = [task["task_id"] for task in tasks]
    assert sorted(listed_ids) == sorted(ids)  # each once: no duplicate records
