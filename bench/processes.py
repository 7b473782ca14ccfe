"""The processes a benchmark starts: each runs inside a `with` block that stops it, logs to a
file (never an unread pipe), and is read for CPU time and memory from /proc."""

from __future__ import annotations

import contextlib
import http.client
import os
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
REPO_ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_S = 10.0


@dataclass(frozen=True)
class Agent:
    """A started HTTP server: its name, its base URL and its process."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_s(self) -> float:
        """User + system CPU seconds used so far (fields 14 and 15 of /proc/<pid>/stat)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S

    def rss_bytes(self) -> int:
        return _status_kib(self.pid, "VmRSS") * 1024

    def peak_rss_bytes(self) -> int:
        return _status_kib(self.pid, "VmHWM") * 1024

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


def http_get(url: str, headers: Mapping[str, str] | None = None,
             timeout_s: float = 10.0) -> tuple[int, bytes]:
    """One GET on a connection of its own: the status and the whole body."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port,
                                            timeout=timeout_s)
    try:
        connection.request("GET", parts.path or "/", headers=dict(headers or {}))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@contextlib.contextmanager
def started(name: str, argv: Sequence[str], url: str, *, ready_path: str, log_dir: Path,
            env: Mapping[str, str] | None = None, ready_headers: Mapping[str, str] | None = None,
            ready_timeout_s: float = 60.0) -> Iterator[Agent]:
    """Start a server, wait until `ready_path` answers 200, and stop it when the block ends."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        # A session of its own: a Ctrl-C at the terminal reaches the harness, which stops it.
        process = subprocess.Popen(list(argv), env=dict(env) if env is not None else None,
                                   cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    agent = Agent(name, url, process, log_path)
    try:
        _wait_ready(agent, ready_path, ready_headers or {}, ready_timeout_s)
        yield agent
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_ready(agent: Agent, path: str, headers: Mapping[str, str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if agent.process.poll() is not None:
            raise RuntimeError(f"{agent.name} exited with {agent.process.returncode}:\n"
                               f"{agent.log_tail()}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, _ = http_get(agent.url + path, headers, timeout_s=2.0)
            if status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{agent.name} not ready at {agent.url}{path} in {timeout_s:g}s:\n"
                       f"{agent.log_tail()}")
