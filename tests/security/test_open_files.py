"""The connection cap against the open-file limit (polyad/open_files.py), on a real process
started under a low limit as systemd's default would start it: connections past what the
limit can hold get the 503 and the collectors keep their descriptors."""

from __future__ import annotations

import resource
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from polyad.open_files import RESERVE, fit_connections
from tests.agent_process import BIN, environment, free_port, get_json, wait_ready


def _limited(soft: int, hard: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def agent_under(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes], Path]]:
    """An agent whose soft and hard open-file limits are RESERVE + 40: it can hold 40
    connections however many server.max_connections allows (1,024 by default)."""
    port = free_port()
    log = tmp_path / "agent.log"
    with log.open("wb") as output:
        process = subprocess.Popen([str(BIN / "polyad"), "serve", "--port", str(port)],
                                   env=environment(tmp_path), stdout=output,
                                   stderr=subprocess.STDOUT,
                                   preexec_fn=lambda: _limited(RESERVE + 40, RESERVE + 40))
    try:
        wait_ready(port, process)
        yield port, process, log
    finally:
        process.terminate()
        process.wait(10)


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def test_past_what_the_limit_holds_connections_are_refused_and_the_host_still_watched(
    agent_under: tuple[int, subprocess.Popen[bytes], Path],
) -> None:
    port, _, log = agent_under
    held = [_connect(port) for _ in range(40)]   # the cap the limit leaves: all held
    try:
        extra = _connect(port)
        assert extra.recv(4096).startswith(b"HTTP/1.1 503 ")   # refused, not queued
        extra.close()
        for connection in held[:5]:   # those held are served
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert connection.recv(4096).startswith(b"HTTP/1.1 200 ")
    finally:
        for connection in held:
            connection.close()
    text = log.read_text()
    assert "server.max_connections lowered" in text and '"usable":40' in text
    # the collectors kept their descriptors: none failed, then or since
    deadline = time.monotonic() + 5
    while (now := get_json(f"http://127.0.0.1:{port}/readyz"))["status"] != "ready":
        assert time.monotonic() < deadline, now
    assert "Too many open files" not in log.read_text()
    assert "collector failed" not in log.read_text()


def test_the_soft_limit_is_raised_up_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1024 + RESERVE:
        pytest.fail(f"this machine's hard limit ({hard}) is below what the test needs")
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))
        usable, now = fit_connections(1024)
        assert (usable, now) == (1024, 1024 + RESERVE)
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 1024 + RESERVE
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
