"""Real servers for end-to-end tests, as processes on free loopback ports: Prometheus,
Alertmanager and polyad agents, each logging to a file of its own and stopped afterwards."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from tests.agent_process import BIN, environment, free_port, wait_ready
from tests.conftest import bearer

__all__ = ["Servers", "binary", "fetch_json", "fleet_member", "prometheus_query",
           "wait_for"]

Found = TypeVar("Found")


def binary(*names: str) -> str:
    for name in names:
        if path := shutil.which(name):
            return path
    raise AssertionError(f"{names[0]} is missing: `make test` installs Debian's prometheus and "
                         "prometheus-alertmanager packages")


def wait_for(check: Callable[[], Found | None], what: str, timeout_s: float = 20) -> Found:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.2)


def fetch_json(url: str, *, token: str | None = None, body: Any = None,
               method: str | None = None) -> Any:
    headers = bearer(token) if token else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"null")


def prometheus_query(url: str, expr: str) -> list[dict[str, Any]]:
    """An instant query's samples; a query Prometheus refuses fails here, with its reason."""
    query = urllib.parse.urlencode({"query": expr})
    try:
        answer = fetch_json(f"{url}/api/v1/query?{query}")
    except urllib.error.HTTPError as error:
        with error:
            reason = error.read().decode()
        raise AssertionError(f"Prometheus refused {expr!r}: {reason}") from None
    assert answer["status"] == "success", answer
    samples: list[dict[str, Any]] = answer["data"]["result"]
    return samples


def fleet_member(state_dir: Path, *, instance: str, rules: Path, alertmanager: str,
                 redis_url: str, redis_prefix: str) -> dict[str, str]:
    """An agent of a fleet: its own state, name and rules, alerting `alertmanager`; one Redis
    for cache, limits and tasks, a task queue per host."""
    state_dir.mkdir()
    return {**environment(state_dir), "POLYAD_SAMPLER__INTERVAL": "1s",
            "POLYAD_ALERTS__EVALUATION_INTERVAL": "1s", "POLYAD_ALERTS__INSTANCE": instance,
            "POLYAD_ALERTS__RULE_FILES": f"[{rules}]",
            "POLYAD_NOTIFIERS__ALERTMANAGER__URLS": f"[{alertmanager}]",
            "POLYAD_REDIS__URL": redis_url, "POLYAD_REDIS__PREFIX": redis_prefix,
            "POLYAD_TASKS__BACKEND": "redis", "POLYAD_CACHE__BACKEND": "redis",
            "POLYAD_RATE_LIMIT__STORAGE": "redis", "POLYAD_TASKS__AGENT_ID": instance,
            "POLYAD_TASKS__SHUTDOWN_GRACE": "1s"}


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


class Servers:
    """The processes a test started; `stop()` signals them all at once, then waits for each."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.agents: set[str] = set()

    def start(self, name: str, command: list[str],
              env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        # a log file, never a pipe: an unread pipe fills up and stalls the process
        with (self.logs / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def prometheus(self, name: str, config: Path) -> str:
        port = free_port()
        self.start(name, [binary("prometheus"), f"--config.file={config}",
                          f"--storage.tsdb.path={config.parent / 'data'}",
                          f"--web.listen-address=127.0.0.1:{port}"])
        return f"http://127.0.0.1:{port}"

    def alertmanager(self, name: str, config: Path) -> str:
        port = free_port()
        self.start(name, [binary("prometheus-alertmanager", "alertmanager"),
                          f"--config.file={config}", f"--storage.path={config.parent / 'data'}",
                          f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="])
        return f"http://127.0.0.1:{port}"

    def agent(self, name: str, env: Mapping[str, str]) -> str:
        port = free_port()
        self.start(name, [str(BIN / "polyad"), "serve", "--port", str(port)], env)
        self.agents.add(name)
        return f"http://127.0.0.1:{port}"

    def wait_ready(self, name: str, url: str) -> None:
        """Started together, waited for in turn: an agent's /readyz, a Prometheus' /-/ready."""
        process = self.processes[name]
        try:
            if name in self.agents:
                wait_ready(int(url.rsplit(":", 1)[1]), process)
                return

            def answers() -> bool:
                assert process.poll() is None, f"{name} exited"
                return _answers(f"{url}/-/ready")

            wait_for(answers, f"{name} to be ready")
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.log(name)}") from None

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
