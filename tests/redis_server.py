"""A redis-server of one test's own, for tests that stop, pause or kill it (never the shared
one): on a port that stays the same across restarts, with its data in the test's directory."""

from __future__ import annotations

import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from tests.agent_process import free_port

__all__ = ["PrivateRedis"]

_START_WAIT_S = 10.0


class PrivateRedis:
    """`args`: more of redis-server's options (an ACL user, a replica's primary …); `tls`: the
    context to check it answers with, for a server listening with TLS only (then `args` has
    `--port 0 --tls-port <port>` and its certificates, and `url` is rediss://)."""

    def __init__(self, directory: Path, *, append_only: bool = False,
                 args: Sequence[str] = (), tls: ssl.SSLContext | None = None,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"{'rediss' if tls else 'redis'}://127.0.0.1:{self.port}/0"
        self._directory = directory
        # "always": every write is on disk before its reply, so a kill loses nothing the
        # agent was told had happened (the test checks the agent, not Redis' fsync policy)
        self._persistence = (["--appendonly", "yes", "--appendfsync", "always"] if append_only
                             else ["--appendonly", "no"])
        self._args = list(args)
        self._tls = tls
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        listen = [] if self._tls else ["--port", str(self.port)]
        self._process = subprocess.Popen(
            ["redis-server", *listen, "--bind", "127.0.0.1", "--save", "",
             "--dir", str(self._directory), *self._persistence, *self._args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + _START_WAIT_S
        while not self.answers():
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} did not answer")
            time.sleep(0.02)

    def answers(self) -> bool:
        """PONG, or NOAUTH from a server whose default user is off: either way, it is up."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as plain:
                if self._tls is None:
                    return self._pong(plain)
                with self._tls.wrap_socket(plain, server_hostname="127.0.0.1") as wrapped:
                    return self._pong(wrapped)
        except OSError:
            return False

    @staticmethod
    def _pong(connection: socket.socket) -> bool:
        connection.sendall(b"PING\r\n")
        return connection.recv(16).startswith((b"+PONG", b"-NOAUTH"))

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
