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

__all__ = ["BIN", "environment", "free_port", "get_json", "wait_ready"]

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
