"""Eight real agents sharing one Redis, scraped by one Prometheus, alerting one Alertmanager
(tests/e2e/fleet.py): shared tasks spread over the agents and each runs once; three agents
killed mid-run and their tasks taken over; rate limits exact across the fleet; a cache entry
written through one agent a hit through another; each agent's alert in Alertmanager under its
own instance. The last test measures what the fleet costs Redis and Prometheus and writes it
to test-artifacts/fleet.json (`make fleet` runs this module alone and prints it)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import bearer, make_token
from tests.e2e.fleet import (
    AGENTS,
    GPU_AGENT,
    LIMIT,
    PROBE_ALERT,
    Fleet,
    measure_idle,
    start_fleet,
    stop_fleet,
)
from tests.e2e.servers import fetch_json, wait_for
from tests.tasks.test_plugins import png

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    started = start_fleet(tmp_path_factory.mktemp("fleet"))
    try:
        yield started
    finally:
        stop_fleet(started)


def own_token() -> str:
    """An identity of the test's own: its requests count against no other test's allowance."""
    return make_token(subject=f"test-{uuid.uuid4().hex[:8]}")


def probe(seconds: float, tag: str) -> dict[str, Any]:
    return {"type": "fleet", "action": "probe", "data": {"seconds": seconds, "tag": tag}}


def all_finished(fleet: Fleet, task_ids: list[str], timeout_s: float,
                 task_type: str = "fleet") -> list[dict[str, Any]]:
    """Each task's view once all have ended, read in one list request a poll (one request per
    task a poll would soon spend the tests' own rate limit)."""
    def views() -> list[dict[str, Any]] | None:
        listed = {view["task_id"]: view for view in fleet.newest(task_type)}
        found = [listed.get(task_id) for task_id in task_ids]
        if any(view is None or view["status"] not in ("succeeded", "failed", "cancelled")
               for view in found):
            return None
        return found   # type: ignore[return-value]

    return wait_for(views, f"{len(task_ids)} tasks to end", timeout_s=timeout_s)


def test_shared_tasks_spread_over_the_agents_and_each_runs_once(fleet: Fleet) -> None:
    token = own_token()
    urls = list(fleet.alive().values())
    task_ids = [fleet.submit(urls[number % len(urls)], probe(0.3, f"spread-{number}"), token)
                for number in range(32)]
    views = all_finished(fleet, task_ids, timeout_s=60)
    assert {view["status"] for view in views} == {"succeeded"}
    assert {view["attempts"] for view in views} == {1}            # none ran twice
    ran_on = Counter(view["result"]["pid"] for view in views)
    assert len(ran_on) >= AGENTS // 2, ran_on                     # spread, not one agent's


def test_three_agents_killed_mid_run_and_their_tasks_taken_over(fleet: Fleet) -> None:
    token = own_token()
    urls = list(fleet.alive().values())
    task_ids = [fleet.submit(urls[number % len(urls)], probe(4.0, f"kill-{number}"), token)
                for number in range(12)]

    def running() -> int | None:
        count = sum(view["status"] == "running" for view in fleet.newest("fleet")
                    if view["task_id"] in task_ids)
        return count if count >= 6 else None

    wait_for(running, "tasks running on several agents", timeout_s=20)
    victims = [name for name in fleet.alive() if name != GPU_AGENT][:3]
    for victim in victims:
        fleet.kill(victim)
    views = all_finished(fleet, task_ids, timeout_s=60)           # lease 3 s, run 4 s
    assert {view["status"] for view in views} == {"succeeded"}, views
    assert max(view["attempts"] for view in views) == 2           # some were taken over
    assert len(fleet.alive()) == AGENTS - 3


def test_gpu_tasks_run_only_on_the_agent_with_a_gpu(fleet: Fleet) -> None:
    token = own_token()
    urls = list(fleet.alive().values())
    task = {"type": "fleet", "action": "gpu_probe"}
    task_ids = [fleet.submit(urls[number % len(urls)],
                             {**task, "data": {"seconds": 0.2, "tag": f"gpu-{number}"}}, token)
                for number in range(12)]
    views = all_finished(fleet, task_ids, timeout_s=60)
    assert {view["status"] for view in views} == {"succeeded"}, views
    gpu_pid = fleet.servers.processes[GPU_AGENT].pid
    assert {view["result"]["pid"] for view in views} == {gpu_pid}
    # what any agent runs goes anywhere: the GPU agent is not the only one working
    spread = [fleet.submit(urls[number % len(urls)], probe(0.2, f"cpu-{number}"), token)
              for number in range(12)]
    ran_on = {view["result"]["pid"] for view in all_finished(fleet, spread, timeout_s=60)}
    assert ran_on - {gpu_pid}, ran_on


def test_rate_limits_are_exact_across_the_fleet(fleet: Fleet) -> None:
    token = own_token()
    urls = list(fleet.alive().values())
    sent = LIMIT + 120

    def status(number: int) -> int:
        request = urllib.request.Request(f"{urls[number % len(urls)]}/status",
                                         headers=bearer(token))
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = Counter(pool.map(status, range(sent)))
    assert set(statuses) <= {200, 429}, statuses
    # counted in Redis, atomically: the fleet admits the limit, give or take one per agent
    assert abs(statuses[200] - LIMIT) <= len(urls), statuses


def test_a_cache_entry_written_through_one_agent_is_a_hit_through_another(
    fleet: Fleet,
) -> None:
    token = own_token()
    first, *_, last = list(fleet.alive().values())
    task = {"type": "vision", "action": "stats",
            "data": {"image_base64": png(5, 2, (1, 2, 3))}}
    (done,) = all_finished(fleet, [fleet.submit(first, task, token)], 20, "vision")
    assert done["status"] == "succeeded" and done["from_cache"] is False
    (again,) = all_finished(fleet, [fleet.submit(last, task, token)], 20, "vision")
    assert again["from_cache"] is True and again["result"] == done["result"]


def test_alertmanager_has_each_agent_s_alert_under_its_own_instance(fleet: Fleet) -> None:
    def probe_alerts() -> list[dict[str, Any]] | None:
        groups = fetch_json(f"{fleet.alertmanager}/api/v2/alerts/groups")
        found = [alert for group in groups for alert in group["alerts"]
                 if alert["labels"]["alertname"] == PROBE_ALERT]
        return found if len({alert["labels"]["instance"] for alert in found}) == AGENTS \
            else None

    alerts = wait_for(probe_alerts, "every agent's alert in Alertmanager", timeout_s=30)
    instances = Counter(alert["labels"]["instance"] for alert in alerts)
    assert set(instances) == set(fleet.agents) and set(instances.values()) == {1}
    groups = fetch_json(f"{fleet.alertmanager}/api/v2/alerts/groups")
    probe_groups = [group for group in groups
                    if group["labels"].get("alertname") == PROBE_ALERT]
    # the shipped route groups by alertname and instance: one group, one page, per agent
    assert len(probe_groups) == AGENTS


def test_what_the_fleet_costs(fleet: Fleet) -> None:
    """Measured last, on the agents still alive: Redis commands a second and memory while
    idle, Redis commands and memory per finished task, and the samples of one scrape per
    agent. Written to test-artifacts/fleet.json."""
    idle = measure_idle(fleet, seconds=20)
    before, started_s = fleet.redis_info(), time.monotonic()
    token = own_token()
    urls = list(fleet.alive().values())
    task_ids = [fleet.submit(urls[number % len(urls)], probe(0.0, f"cost-{number}"), token)
                for number in range(40)]
    all_finished(fleet, task_ids, timeout_s=60)
    after, window_s = fleet.redis_info(), time.monotonic() - started_s
    task_commands = (int(after["total_commands_processed"])
                     - int(before["total_commands_processed"])
                     - idle["redis_commands_per_s"] * window_s)     # less the idle traffic
    alive = fleet.alive()
    samples = [value for name, value in fleet.scraped().items() if name in alive]
    figures = {
        "agents_alive": len(alive), **idle,
        "redis_commands_per_task": round(task_commands / len(task_ids), 1),
        "redis_bytes_per_finished_task": round(
            (int(after["used_memory"]) - int(before["used_memory"])) / len(task_ids)),
        "samples_per_scrape_per_agent": round(sum(samples) / len(samples)),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "fleet.json").write_text(json.dumps(figures, indent=2) + "\n")
    assert figures["redis_commands_per_s_per_agent"] > 0      # agents do talk to Redis idle
    assert figures["redis_commands_per_task"] > 0
    assert figures["samples_per_scrape_per_agent"] > 100
