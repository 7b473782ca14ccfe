"""A redis-server of one test's own, for tests that stop, pause or kill it (never the shared
one): on a port that stays the same across restarts, with its data in the test's directory."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.agent_process import free_port

__all__ = ["PrivateRedis"]

_START_WAIT_S = 10.0


class PrivateRedis:
    def __init__(self, directory: Path, *, append_only: bool = False) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = directory
        # "always": every write is on disk before its reply, so a kill loses nothing the
        # agent was told had happened (the test checks the agent, not Redis' fsync policy)
        self._persistence = (["--appendonly", "yes", "--appendfsync", "always"] if append_only
                             else ["--appendonly", "no"])
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--dir", str(self._directory), *self._persistence],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + _START_WAIT_S
        while not self._answers():
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} did not answer")
            time.sleep(0.02)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def pause(self) -> None:
        """Stopped, not gone: connections stay open and commands wait unanswered."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, signum: int) -> None:
        assert self._process is not None, "not started"
        self._process.send_signal(signum)

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(5)
            self._process = None
