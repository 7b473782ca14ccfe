"""The shipped stack, run for real: two agents sharing one Redis (cache, limits, tasks), one
Prometheus on the shipped prometheus.yml scraping both through file_sd with a token file, and
the shipped Alertmanager config twice, one fed by Prometheus' rules and one by the agents.

The rules are the built-in host rules (the agents') and the shipped rules folder (Prometheus':
their export and the rules only Prometheus evaluates), with HostHighMemory made to fire at once
in both copies. Agent a watches this machine; agent b the made-up host (tests/fixtures/host,
through `host.*`), which has disks, mounts, sensors and pressure stall whatever this machine or
its container has, and two GPUs of the fake NVML (as its `pynvml`, through a shim on its
PYTHONPATH), so that every dashboard panel has data."""

from __future__ import annotations

import math
import re
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from polyad.alerts.rules import builtin_rule_files
from tests.agent_process import BIN, free_port
from tests.conftest import REDIS_URL, make_token
from tests.e2e.servers import Servers, fetch_json, fleet_member, prometheus_query, wait_for
from tests.e2e.shipped import (
    DEPLOY,
    alertmanager_copy,
    dashboard_targets,
    fill_variables,
    load_yaml,
    prometheus_copy,
)
from tests.fakes.nvml_shim import write_pynvml_shim
from tests.fixtures import make_host
from tests.tasks.test_plugins import png

FIRING = "HostHighMemory"
# Agent a is named by its address (the shipped relabeling strips the port), agent b by an
# `instance` label in the targets file; each agent's alerts.instance is the same name.
INSTANCES = {"agent-a": "127.0.0.1", "agent-b": "agent-b"}
MADE_UP_HOST = {"POLYAD_HOST__PROCFS": str(make_host.ROOT / "proc"),
                "POLYAD_HOST__SYSFS": str(make_host.ROOT / "sys"),
                "POLYAD_HOST__ROOTFS": str(make_host.ROOT / "root")}

# two GPUs as the fake NVML makes them by default: every GPU panel has data, no GPU alert fires
FAKE_GPUS = ("from tests.fakes.nvml import FakeGpu, FakeNvml\n"
             "_FAKE = FakeNvml([FakeGpu(), FakeGpu(uuid='GPU-1', temperature=71)])")


@dataclass
class Stack:
    agents: dict[str, str]          # instance → URL
    prometheus: str
    alertmanager_of_prometheus: str
    alertmanager_of_agents: str
    token: str                      # every scope, for the tests' own requests


def fire_at_once(rules: dict[str, Any], *, expr: str | None = None) -> dict[str, Any]:
    """Rules in which HostHighMemory fires on any memory use, without waiting: the agents'
    (a threshold), or Prometheus' export (`expr`, for which `for` is dropped the same way)."""
    (rule,) = [rule for group in rules["groups"] for rule in group["rules"]
               if rule["alert"] == FIRING]
    if expr is None:
        rule.update(op=">=", threshold=0)
    else:
        assert rule["expr"] == "system_memory_utilization_ratio > 0.9"
        rule["expr"] = expr
    del rule["for"]
    return rules


def write_yaml(path: Path, document: Any) -> Path:
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    return path


def agent_environment(state_dir: Path, *, instance: str, rules: Path, alertmanager: str,
                      redis_prefix: str) -> dict[str, str]:
    return fleet_member(state_dir, instance=instance, rules=rules, alertmanager=alertmanager,
                        redis_url=REDIS_URL, redis_prefix=redis_prefix)


def mint_token(env: dict[str, str]) -> str:
    """As the compose stack's polyad-token step does, with the agents' secret."""
    minted = subprocess.run([str(BIN / "polyad"), "token", "--scope", "read", "--ttl", "1h",
                             "--sub", "prometheus"], env=env, capture_output=True, text=True,
                            timeout=30, check=True)
    return minted.stdout.strip()


def file_sd_targets(agents: dict[str, str]) -> list[dict[str, Any]]:
    """Agent a by its address alone; agent b with its name, as the fleet example shows."""
    return [{"targets": [agents["agent-a"].removeprefix("http://")]},
            {"targets": [agents["agent-b"].removeprefix("http://")],
             "labels": {"instance": INSTANCES["agent-b"]}}]


def start_stack(servers: Servers, root: Path, redis_prefix: str) -> Stack:
    # the receiver placeholder, sent to a closed loopback port (unused: 30 s group_wait)
    webhook = f"http://127.0.0.1:{free_port()}/alerts"
    alertmanagers = {name: servers.alertmanager(name, alertmanager_copy(root / name,
                                                                        webhook=webhook))
                     for name in ("alertmanager-prometheus", "alertmanager-agents")}
    (host_rules,) = [path for path in builtin_rule_files() if path.name == "host.yml"]
    rules = write_yaml(root / "host.yml", fire_at_once(load_yaml(host_rules)))
    envs = {name: agent_environment(root / name, instance=instance, rules=rules,
                                    redis_prefix=redis_prefix,
                                    alertmanager=alertmanagers["alertmanager-agents"])
            for name, instance in INSTANCES.items()}
    envs["agent-b"].update(MADE_UP_HOST, **write_pynvml_shim(root / "agent-b-nvml", FAKE_GPUS))
    agents = {name: servers.agent(name, env) for name, env in envs.items()}
    (root / "prometheus").mkdir()
    config = prometheus_copy(root / "prometheus", targets=file_sd_targets(agents),
                             token=mint_token(envs["agent-a"]),
                             alertmanager=alertmanagers["alertmanager-prometheus"])
    exported = root / "prometheus" / "rules" / "polyad.yml"
    write_yaml(exported, fire_at_once(load_yaml(exported),
                                      expr="system_memory_utilization_ratio >= 0"))
    prometheus = servers.prometheus("prometheus", config)
    for name, url in [*alertmanagers.items(), *agents.items(), ("prometheus", prometheus)]:
        servers.wait_ready(name, url)
    return Stack(agents={INSTANCES[name]: url for name, url in agents.items()},
                 prometheus=prometheus, token=make_token(),
                 alertmanager_of_prometheus=alertmanagers["alertmanager-prometheus"],
                 alertmanager_of_agents=alertmanagers["alertmanager-agents"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("stack")
    redis_prefix = f"polyad-test-{uuid.uuid4().hex[:8]}:"
    servers = Servers(root)
    try:
        yield start_stack(servers, root, redis_prefix)
    finally:
        servers.stop()
        with redis.Redis.from_url(REDIS_URL) as client:
            keys = list(client.scan_iter(match=f"{redis_prefix}*"))
            if keys:
                client.delete(*keys)


def up(stack: Stack) -> dict[str, float] | None:
    found = {sample["metric"]["instance"]: float(sample["value"][1])
             for sample in prometheus_query(stack.prometheus, 'up{job="polyad"}')}
    return found if len(found) == len(INSTANCES) and set(found.values()) == {1.0} else None


def test_prometheus_scrapes_each_agent_with_the_token_file(stack: Stack) -> None:
    wait_for(lambda: up(stack), "both agents up in Prometheus")
    assert up(stack) == dict.fromkeys(INSTANCES.values(), 1.0)
    # what lets Prometheus in is the token: without one the agent refuses
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{stack.agents['127.0.0.1']}/metrics/prom", timeout=5)
    refused.value.close()
    assert refused.value.code == 401


def has_data(samples: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(sample["value"][1])) for sample in samples)


def test_every_dashboard_query_is_valid_promql_with_data(stack: Stack) -> None:
    agent = stack.agents["127.0.0.1"]
    queries = {(title, fill_variables(expr, list(INSTANCES.values())))
               for title, expr in dashboard_targets()}
    waiting = set(queries)
    deadline = time.monotonic() + 30
    while waiting and time.monotonic() < deadline:
        # work for the task, cache and HTTP panels: a cacheable task, missed then hit (1 s)
        fetch_json(f"{agent}/task", token=stack.token, body={"type": "system",
                                                              "action": "snapshot"})
        waiting = {query for query in waiting
                   if not has_data(prometheus_query(stack.prometheus, query[1]))}
        time.sleep(0.5)
    assert not waiting, f"panels without data: {sorted(waiting)}"
    assert {"Disk throughput", "Disk IOPS", "Disk utilization", "Filesystem usage",
            "Filesystem free space", "Filesystem inodes", "Read-only and stale filesystems",
            "Pressure stall (some)", "Pressure stall (full)", "GPU utilization",
            "GPU XID errors", "GPU ECC errors", "GPU throttling"} <= {title for title, _ in
                                                                    queries}


def test_prometheus_evaluates_every_shipped_rule(stack: Stack) -> None:
    def loaded() -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = fetch_json(f"{stack.prometheus}/api/v1/rules")["data"][
            "groups"]
        return [rule for group in groups for rule in group["rules"]]

    shipped = [group for path in (DEPLOY / "prometheus" / "rules").glob("*.yml")
               for group in load_yaml(path)["groups"]]
    assert sorted(rule["name"] for rule in loaded()) == sorted(
        rule["alert"] for group in shipped for rule in group["rules"])
    assert "FilesystemFillingUp" in {rule["name"] for rule in loaded()}  # not the agents'
    never = "0001-01-01T00:00:00Z"
    wait_for(lambda: all(rule["lastEvaluation"] != never for rule in loaded()),
             "every rule evaluated")
    assert {rule["health"] for rule in loaded()} == {"ok"}


def alerts_in(alertmanager: str) -> list[dict[str, Any]] | None:
    found: list[dict[str, Any]] = fetch_json(f"{alertmanager}/api/v2/alerts?active=true")
    firing = [alert for alert in found if alert["labels"]["alertname"] == FIRING]
    return firing if len(firing) == len(INSTANCES) else None


def without_percentages(text: str) -> str:
    return re.sub(r"\d+(?:\.\d+)?%", "N%", text)


def test_prometheus_and_the_agents_send_alertmanager_the_same_alerts(stack: Stack) -> None:
    from_prometheus = wait_for(lambda: alerts_in(stack.alertmanager_of_prometheus),
                               f"{FIRING} from Prometheus, for each agent")
    from_agents = wait_for(lambda: alerts_in(stack.alertmanager_of_agents),
                           f"{FIRING} from each agent")
    expected = sorted(({"alertname": FIRING, "instance": instance, "severity": "warning"}
                       for instance in INSTANCES.values()), key=lambda labels: labels["instance"])

    def labels(alerts: list[dict[str, Any]]) -> list[dict[str, str]]:
        return sorted((alert["labels"] for alert in alerts), key=lambda found: found["instance"])

    assert labels(from_prometheus) == labels(from_agents) == expected
    # from whom each came; the same words, but for the value each measured
    assert all("/graph?g0.expr=" in alert["generatorURL"] for alert in from_prometheus)
    assert {alert["generatorURL"].split("/")[2] for alert in from_agents} == {
        url.removeprefix("http://") for url in stack.agents.values()}

    def annotations(alerts: list[dict[str, Any]]) -> list[dict[str, str]]:
        masked = [{name: without_percentages(text) for name, text in alert["annotations"].items()}
                  for alert in alerts]
        return sorted(masked, key=lambda found: found["summary"])

    assert annotations(from_prometheus) == annotations(from_agents)
    assert annotations(from_agents)[0]["summary"] == "Memory at N% on 127.0.0.1"


def finished(stack: Stack, agent: str, task_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] = fetch_json(f"{agent}/task/{task_id}", token=stack.token)
    return found if found["status"] in ("succeeded", "failed", "cancelled") else None


def test_two_agents_on_one_redis_serve_one_fleet(stack: Stack) -> None:
    a, b = stack.agents["127.0.0.1"], stack.agents["agent-b"]
    for agent in (a, b):
        components = fetch_json(f"{agent}/status", token=stack.token)["components"]
        assert {name: components[name]["detail"] for name in ("cache", "rate_limit", "tasks")} \
            == {"cache": "redis backend", "rate_limit": "redis storage", "tasks": "redis queue"}
    # a task of a shared (not host-bound) handler, submitted to a, is b's to read as well
    task = {"type": "vision", "action": "stats", "data": {"image_base64": png(4, 3, (9, 8, 7))}}
    accepted = fetch_json(f"{a}/task", token=stack.token, body=task)
    task_id = accepted["task_id"]

    read_on_b = wait_for(lambda: finished(stack, b, task_id), "the task, read through agent b")
    assert read_on_b["status"] == "succeeded" and read_on_b["result"]["width"] == 4
    listed = fetch_json(f"{b}/tasks?type=vision", token=stack.token)["tasks"]
    assert task_id in [listed_task["task_id"] for listed_task in listed]
    # and its result, cached in the shared Redis, serves the same task submitted to b
    again = fetch_json(f"{b}/task", token=stack.token, body=task)["task_id"]
    cached = wait_for(lambda: finished(stack, b, again), "the same task, submitted to b")
    assert cached["status"] == "succeeded" and cached["from_cache"] is True
