"""Running the agent as a real process, as an operator would, for tests that need one."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import TEST_SECRET, bearer, make_token

__all__ = ["BIN", "Agent", "environment", "free_port", "get_json", "submit_task",
           "wait_ready"]

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYAD_")}
    env["POLYAD_STATE_DIR"] = str(tmp_path)
    env["POLYAD_AUTH__SECRET"] = TEST_SECRET
    return env


def get_json(url: str, token: str | None = None) -> dict[str, object]:
    request = urllib.request.Request(url, headers=bearer(token or make_token()))
    with urllib.request.urlopen(request, timeout=5) as response:
        body: dict[str, object] = json.load(response)
        return body


def submit_task(port: int, token: str, *, seconds: float) -> str:
    """A `system.noop` of `seconds`, submitted over HTTP; its id."""
    body = json.dumps({"type": "system", "action": "noop", "data": {"seconds": seconds}})
    request = urllib.request.Request(f"http://127.0.0.1:{port}/task", data=body.encode(),
                                     method="POST", headers={**bearer(token),
                                                             "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 202
        task_id: str = json.load(response)["task_id"]
        return task_id


def wait_ready(port: int, process: subprocess.Popen[bytes], token: str | None = None) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        try:
            if get_json(f"http://127.0.0.1:{port}/readyz", token)["status"] == "ready":
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the agent did not become ready in 20 s")


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
