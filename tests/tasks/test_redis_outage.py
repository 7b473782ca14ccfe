"""A Redis outage longer than the task lease, on a real agent and a redis-server of the test's
own: paused (connections open, commands unanswered) or killed and started again from its
append-only file. Every accepted task ends exactly once, having started once, and no stream
entry is left pending under a name nobody works on."""

from __future__ import annotations

import time
import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.agent_process import Agent, environment, get_json, submit_task
from tests.conftest import make_token
from tests.redis_server import PrivateRedis

TASK_SECONDS = 1.0
TASKS = 4               # on two workers: two run when Redis goes, two wait
OUTAGE_S = 6.0          # longer than the lease (2 s) and than the socket timeout before the fix
PREFIX = "outage:"
Records = dict[str, dict[str, object]]


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Callable[[PrivateRedis], Agent]]:
    started: list[Agent] = []

    def start(server: PrivateRedis) -> Agent:
        settings = {**environment(tmp_path), "POLYAD_TASKS__BACKEND": "redis",
                    "POLYAD_TASKS__LEASE": "2s", "POLYAD_TASKS__WORKERS": "2",
                    "POLYAD_REDIS__URL": server.url, "POLYAD_REDIS__PREFIX": PREFIX,
                    "POLYAD_RATE_LIMIT__ENABLED": "false"}
        started.append(Agent(settings, tmp_path / "agent.log"))
        started[-1].start()
        return started[-1]

    yield start
    for each in started:
        each.stop()


def records(port: int, token: str, ids: list[str]) -> Records:
    return {task_id: get_json(f"http://127.0.0.1:{port}/task/{task_id}", token)
            for task_id in ids}


def wait_until(port: int, token: str, ids: list[str], done: Callable[[Records], bool],
               within_s: float) -> Records:
    deadline = time.monotonic() + within_s
    seen: Records = {}
    while time.monotonic() < deadline:
        try:
            seen = records(port, token, ids)
        except urllib.error.HTTPError as error:
            if error.code != 503:  # 503: Redis not reachable yet, asked again
                raise
        else:
            if done(seen):
                return seen
        time.sleep(0.2)
    raise AssertionError(f"not reached in {within_s} s: {seen}")


def pending_entries(server: PrivateRedis) -> int:
    client = redis.Redis.from_url(server.url)
    try:
        return sum(client.xpending(stream, "polyad")["pending"]
                   for stream in client.scan_iter(match=f"{PREFIX}tasks:*", _type="stream"))
    finally:
        client.close()


def run_through_an_outage(server: PrivateRedis, agent: Agent,
                          outage: Callable[[], None]) -> None:
    token = make_token()
    ids = [submit_task(agent.port, token, seconds=TASK_SECONDS) for _ in range(TASKS)]
    wait_until(agent.port, token, ids, within_s=10, done=lambda seen: sum(
        record["status"] == "running" for record in seen.values()) == 2)
    outage()
    # ended as the agent says, and as Redis says: the agent shows the outcome of a task it ran
    # while that outcome still waits to be stored
    ended = wait_until(agent.port, token, ids, within_s=30, done=lambda seen: all(
        record["status"] not in ("queued", "running") for record in seen.values()
    ) and pending_entries(server) == 0)
    assert {record["status"] for record in ended.values()} == {"succeeded"}, ended
    # none ran twice: the two running finished their run, the two waiting started once
    assert [record["attempts"] for record in ended.values()] == [1] * TASKS, ended
    listed = get_json(f"http://127.0.0.1:{agent.port}/tasks?limit=100", token)["tasks"]
    assert sorted(task["task_id"] for task in listed) == sorted(ids)  # type: ignore[attr-defined]
    assert {task["status"] for task in listed} == {"succeeded"}  # type: ignore[attr-defined]


def test_tasks_end_once_after_redis_is_paused_past_the_lease(
        private_redis: PrivateRedis, agent: Callable[[PrivateRedis], Agent]) -> None:
    private_redis.start()

    def pause() -> None:
        private_redis.pause()
        time.sleep(OUTAGE_S)  # the outage itself, not a wait for an outcome
        private_redis.resume()

    run_through_an_outage(private_redis, agent(private_redis), pause)


def test_tasks_end_once_after_an_append_only_redis_is_killed_and_restarted(
        tmp_path: Path, agent: Callable[[PrivateRedis], Agent]) -> None:
    server = PrivateRedis(tmp_path, append_only=True)
    server.start()

    def kill_and_restart() -> None:
        server.kill()
        time.sleep(OUTAGE_S)
        server.start()

    try:
        run_through_an_outage(server, agent(server), kill_and_restart)
    finally:
        server.kill()
