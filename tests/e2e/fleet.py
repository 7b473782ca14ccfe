"""A fleet on one machine: eight real agents on loopback ports sharing one Redis of the test's
own (cache, rate limits, tasks), scraped by one real Prometheus through file_sd, alerting one
real Alertmanager; and what it costs, read from Redis and Prometheus themselves. One agent,
GPU_AGENT, has a GPU: the tests' fake NVML, as its `pynvml` (tests/fakes/nvml_shim.py)."""

from __future__ import annotations

import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from tests.agent_process import free_port
from tests.conftest import make_token
from tests.e2e.servers import Servers, fetch_json, fleet_member, prometheus_query, wait_for
from tests.e2e.shipped import alertmanager_copy, prometheus_copy
from tests.fakes.nvml_shim import write_pynvml_shim
from tests.redis_server import PrivateRedis

__all__ = ["AGENTS", "GPU_AGENT", "LIMIT", "PROBE_ALERT", "Fleet", "start_fleet"]

AGENTS = 8
GPU_AGENT = "agent-1"   # never one of those the tests kill
ONE_GPU = "from tests.fakes.nvml import FakeGpu, FakeNvml\n_FAKE = FakeNvml([FakeGpu()])"
# requests a minute per identity, counted fleet-wide in Redis: above what Prometheus' own
# identity spends scraping eight agents every second (480), so no scrape is refused
LIMIT = 600
PROBE_ALERT = "FleetProbe"
RULES = f"""\
groups:
  - name: fleet
    interval: 1s
    rules:
      - alert: {PROBE_ALERT}
        metric: memory.usage
        op: ">="
        threshold: 0
        labels: {{severity: info}}
        annotations: {{summary: "agent {{{{ host }}}} is in the fleet"}}
"""


@dataclass
class Fleet:
    servers: Servers
    redis_server: PrivateRedis
    agents: dict[str, str]              # instance → URL
    prometheus: str
    alertmanager: str
    token: str                          # every scope
    prefix: str
    empty_redis_bytes: int              # used_memory before any agent started
    killed: set[str] = field(default_factory=set)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_server.url, decode_responses=True)

    def kill(self, instance: str) -> None:
        """SIGKILL: no goodbye, its leases left to run out."""
        self.servers.processes[instance].send_signal(signal.SIGKILL)
        self.servers.processes[instance].wait(10)
        self.killed.add(instance)

    def alive(self) -> dict[str, str]:
        return {name: url for name, url in self.agents.items() if name not in self.killed}

    def submit(self, url: str, task: dict[str, Any], token: str | None = None) -> str:
        accepted = fetch_json(f"{url}/task", token=token or self.token, body=task)
        return str(accepted["task_id"])

    def newest(self, task_type: str) -> list[dict[str, Any]]:
        """The newest tasks of a type, as any agent alive lists them (one Redis behind all)."""
        url = next(iter(self.alive().values()))
        tasks: list[dict[str, Any]] = fetch_json(f"{url}/tasks?type={task_type}&limit=500",
                                                 token=self.token)["tasks"]
        return tasks

    def redis_info(self) -> dict[str, Any]:
        with self.client() as client:
            info: dict[str, Any] = client.info("all")
            return info

    def scraped(self) -> dict[str, float]:
        """Samples per scrape, per agent, as Prometheus counts them."""
        return {sample["metric"]["instance"]: float(sample["value"][1])
                for sample in prometheus_query(self.prometheus,
                                               'scrape_samples_scraped{job="polyad"}')}


def _agent_environment(root: Path, instance: str, redis_url: str, prefix: str, rules: Path,
                       alertmanager: str) -> dict[str, str]:
    environment = {
        **fleet_member(root / instance, instance=instance, rules=rules,
                       alertmanager=alertmanager, redis_url=redis_url, redis_prefix=prefix),
        "POLYAD_RATE_LIMIT__DEFAULT": f"{LIMIT}/minute", "POLYAD_TASKS__LEASE": "3s",
        "POLYAD_TASKS__WORKERS": "2", "POLYAD_LOGGING__LEVEL": "warning"}
    if instance == GPU_AGENT:
        environment |= write_pynvml_shim(root / "gpu-shim", ONE_GPU)
    return environment


def start_fleet(root: Path) -> Fleet:
    servers = Servers(root)
    private = PrivateRedis(root)
    private.start()
    with redis.Redis.from_url(private.url) as client:
        empty_redis_bytes = int(client.info("memory")["used_memory"])
    prefix = f"polyad-fleet-{uuid.uuid4().hex[:6]}:"
    webhook = f"http://127.0.0.1:{free_port()}/alerts"   # a closed port: nobody is paged
    alertmanager = servers.alertmanager("alertmanager",
                                        alertmanager_copy(root / "alertmanager", webhook=webhook))
    rules = root / "fleet-rules.yml"
    rules.write_text(RULES)
    names = [f"agent-{number}" for number in range(1, AGENTS + 1)]
    agents = {name: servers.agent(name, _agent_environment(root, name, private.url, prefix,
                                                           rules, alertmanager))
              for name in names}
    (root / "prometheus").mkdir()
    targets = [{"targets": [url.removeprefix("http://")], "labels": {"instance": name}}
               for name, url in agents.items()]
    token = make_token()
    prometheus = servers.prometheus("prometheus", prometheus_copy(
        root / "prometheus", alertmanager=alertmanager, targets=targets,
        token=make_token(["read"], subject="prometheus"), interval="1s"))
    for name, url in [("alertmanager", alertmanager), *agents.items(),
                      ("prometheus", prometheus)]:
        servers.wait_ready(name, url)
    return Fleet(servers, private, agents, prometheus, alertmanager, token, prefix,
                 empty_redis_bytes)


def stop_fleet(fleet: Fleet) -> None:
    fleet.servers.stop()
    fleet.redis_server.kill()


def every_agent_up(fleet: Fleet) -> bool:
    found = {sample["metric"]["instance"]: sample["value"][1]
             for sample in prometheus_query(fleet.prometheus, 'up{job="polyad"}')}
    return len(found) == AGENTS and set(found.values()) == {"1"}


def wait_until_scraped(fleet: Fleet) -> None:
    wait_for(lambda: every_agent_up(fleet), "Prometheus to scrape every agent", timeout_s=30)


def commands_processed(info: dict[str, Any]) -> int:
    return int(info["total_commands_processed"])


def command_calls(info: dict[str, Any]) -> dict[str, int]:
    """INFO commandstats' calls by command (those scripts make counted under their own)."""
    return {name.removeprefix("cmdstat_"): int(stats["calls"])
            for name, stats in info.items() if name.startswith("cmdstat_")}


def measure_idle(fleet: Fleet, seconds: float) -> dict[str, Any]:
    """Redis commands a second (all, and by command), and Redis memory, with the fleet idle:
    sampling, alerting, scraped every second; no task, no client request."""
    before = fleet.redis_info()
    time.sleep(seconds)    # a window of measurement, not a wait for a condition
    after = fleet.redis_info()
    agents = len(fleet.alive())
    per_s = (commands_processed(after) - commands_processed(before)) / seconds
    calls_before = command_calls(before)
    by_command = {name: round((calls - calls_before.get(name, 0)) / seconds / agents, 3)
                  for name, calls in command_calls(after).items()}
    received, sent = (
        (int(after[name]) - int(before[name])) / seconds / agents
        for name in ("total_net_input_bytes", "total_net_output_bytes"))
    return {"redis_commands_per_s": round(per_s, 2),
            "redis_commands_per_s_per_agent": round(per_s / agents, 3),
            "redis_bytes_per_s_per_agent": {"from_agents": round(received),
                                            "to_agents": round(sent)},
            "redis_bytes_per_idle_agent": round(
                (int(after["used_memory"]) - fleet.empty_redis_bytes) / len(fleet.agents)),
            "redis_commands_per_s_per_agent_by_command": dict(sorted(
                ((name, rate) for name, rate in by_command.items() if rate > 0),
                key=lambda item: -item[1])),
            "redis_used_memory_bytes": int(after["used_memory"]),
            "redis_connected_clients": int(after["connected_clients"])}
