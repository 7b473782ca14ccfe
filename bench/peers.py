"""How each server under test is started, loopback only: polyad, the bare aiohttp ceiling,
Glances and node_exporter. `bench/install-peers.sh` (the `bench-peers` make target) installs
the peers: Glances in a venv of its own, node_exporter and wrk from Debian."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import redis

from bench.processes import REPO_ROOT, Agent, started
from bench.status_throughput import BIN, SECRET, admin_token, free_port
from bench.tasks_throughput import REDIS_URL
from polyad import __version__ as polyad_version

HOST = "127.0.0.1"
PEERS_VENV = Path(os.environ.get("POLYAD_BENCH_PEERS_VENV", REPO_ROOT / "bench" / ".venv-peers"))
GLANCES = PEERS_VENV / "bin" / "glances"
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
WRK = shutil.which("wrk")
# Limits high enough never to refuse: the benchmarks measure what they cost, not what they stop.
NEVER_REFUSE = "100000000/minute"


@dataclass(frozen=True)
class Polyad:
    agent: Agent
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def missing_peers() -> list[str]:
    missing = [] if GLANCES.exists() else [f"Glances ({GLANCES})"]
    missing += [] if NODE_EXPORTER else ["prometheus-node-exporter"]
    return missing + ([] if WRK else ["wrk"])


def polyad_env(state_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An agent as `polyad serve` runs by default, with auth and rate limits on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYAD_")}
    env |= {"POLYAD_STATE_DIR": str(state_dir), "POLYAD_LOGGING__LEVEL": "warning",
            "POLYAD_AUTH__SECRET": SECRET, "POLYAD_RATE_LIMIT__DEFAULT": NEVER_REFUSE,
            "POLYAD_RATE_LIMIT__TASKS": NEVER_REFUSE}
    return env | dict(extra or {})


@contextlib.contextmanager
def polyad(work_dir: Path, name: str = "polyad", scopes: str = "read",
           extra_env: Mapping[str, str] | None = None) -> Iterator[Polyad]:
    state_dir = work_dir / f"{name}-state"
    state_dir.mkdir(exist_ok=True)
    port = free_port()
    argv = [str(BIN / "polyad"), "serve", "--host", HOST, "--port", str(port)]
    with started(name, argv, f"http://{HOST}:{port}", ready_path="/readyz", log_dir=work_dir,
                 env=polyad_env(state_dir, extra_env)) as agent:
        yield Polyad(agent, admin_token(str(state_dir), scopes))


@contextlib.contextmanager
def bare_aiohttp(work_dir: Path, body: bytes) -> Iterator[Agent]:
    body_path = work_dir / "status-body.json"
    body_path.write_bytes(body)
    port = free_port()
    argv = [sys.executable, "-m", "bench.bare_app", "--port", str(port), "--body", str(body_path)]
    with started("bare-aiohttp", argv, f"http://{HOST}:{port}", ready_path="/status",
                 log_dir=work_dir) as agent:
        yield agent


@contextlib.contextmanager
def glances(work_dir: Path) -> Iterator[Agent]:
    """Glances' REST API alone (no web UI, no update check), on its defaults otherwise."""
    port = free_port()
    argv = [str(GLANCES), "-w", "--disable-webui", "--disable-check-update", "-B", HOST,
            "-p", str(port)]
    with started("glances", argv, f"http://{HOST}:{port}", ready_path="/api/4/status",
                 log_dir=work_dir) as agent:
        yield agent


@contextlib.contextmanager
def node_exporter(work_dir: Path) -> Iterator[Agent]:
    """node_exporter with its default collectors."""
    assert NODE_EXPORTER is not None
    port = free_port()
    argv = [NODE_EXPORTER, f"--web.listen-address={HOST}:{port}", "--log.level=warn"]
    with started("node_exporter", argv, f"http://{HOST}:{port}", ready_path="/metrics",
                 log_dir=work_dir) as agent:
        yield agent


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except OSError as error:
        return f"unavailable ({error})"
    output = (done.stdout + done.stderr).strip().splitlines()
    return output[0].strip() if output else "unknown"


def versions() -> dict[str, str]:
    return {"polyad": polyad_version, "aiohttp": aiohttp.__version__,
            "python": platform.python_version(),
            "glances": _first_line([str(GLANCES), "--version"]).split()[-1],
            "node_exporter": _first_line([NODE_EXPORTER or "node_exporter", "--version"]),
            "wrk": _first_line([WRK or "wrk", "-v"]), "redis_server": _redis_version()}


def _redis_version() -> str:
    try:
        with redis.Redis.from_url(REDIS_URL, socket_timeout=2) as client:
            return str(client.info("server")["redis_version"])
    except redis.RedisError as error:
        return f"unavailable ({error})"
