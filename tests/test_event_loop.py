"""server.event_loop: the agent on uvloop (polyad[fast]) serves as it does on asyncio's own
loop, and asking for uvloop where it is not installed is a start-up error that says how to
get it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from polyad.errors import ConfigError
from polyad.server import event_loop_factory
from tests.agent_process import BIN, environment, free_port, get_json, wait_ready


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_agent_serves_on_either_loop(tmp_path: Path, loop: str) -> None:
    port = free_port()
    log = tmp_path / "agent.log"
    with log.open("wb") as output:
        process = subprocess.Popen([str(BIN / "polyad"), "serve", "--port", str(port)],
                                   env={**environment(tmp_path),
                                        "POLYAD_SERVER__EVENT_LOOP": loop},
                                   stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_ready(port, process)
        assert get_json(f"http://127.0.0.1:{port}/status")["status"] == "running"
    finally:
        process.terminate()
        assert process.wait(10) == 0   # a clean stop on SIGTERM, on either loop
    assert f'"event_loop":"{loop}"' in log.read_text()


def test_uvloop_asked_for_but_not_installed_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)   # import uvloop now raises ImportError
    with pytest.raises(ConfigError, match=r"polyad\[fast\]"):
        event_loop_factory("uvloop")
    assert event_loop_factory("asyncio") is None
