"""The Redis backend's promise, on a real agent process: killed with SIGKILL mid-run and
started again, it finishes every task it had accepted, each exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent_process import BIN, environment, free_port, get_json, wait_ready
from tests.conftest import REDIS_URL, bearer, make_token

TASKS = 50
TASK_SECONDS = 0.4   # 50 tasks on 4 workers: about 5 s of work, so the kill lands mid-run


@pytest.fixture
def agent_settings(tmp_path: Path, redis_prefix: str) -> dict[str, str]:
    return {**environment(tmp_path), "POLYAD_TASKS__BACKEND": "redis",
            "POLYAD_TASKS__AGENT_ID": "crash-test", "POLYAD_TASKS__LEASE": "2s",
            "POLYAD_TASKS__WORKERS": "4", "POLYAD_REDIS__URL": REDIS_URL,
            "POLYAD_REDIS__PREFIX": redis_prefix, "POLYAD_RATE_LIMIT__ENABLED": "false"}


class Agent:
    """One agent's port, started as often as the test says; every process stopped after."""

    def __init__(self, settings: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.settings = settings
        self.log_path = log_path  # a file, not a pipe: an unread pipe fills and stalls the agent
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(
                [str(BIN / "polyad"), "serve", "--port", str(self.port)],
                env=self.settings, stdout=subprocess.DEVNULL, stderr=log)
        self.processes.append(process)
        wait_ready(self.port, process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=20)


@pytest.fixture
def agent(agent_settings: dict[str, str], tmp_path: Path) -> Iterator[Agent]:
    started = Agent(agent_settings, tmp_path / "agent.log")
    yield started
    started.stop()


def submit(port: int, token: str) -> str:
    body = json.dumps({"type": "system", "action": "noop",
                       "data": {"seconds": TASK_SECONDS}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/task", data=body, method="POST",
                                     headers={**bearer(token),
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 202
        task_id: str = json.load(response)["task_id"]
        return task_id


def test_every_accepted_task_succeeds_once_after_a_sigkill(agent: Agent) -> None:
    token, port = make_token(), agent.port
    first = agent.start()
    ids = [submit(port, token) for _ in range(TASKS)]
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
