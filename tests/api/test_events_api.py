"""GET /events on the real app: a tick each sample, each task state and each alert change, as
Server-Sent Events; bounded streams, and every stream ends when the agent stops."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse

from polyad.api.keys import EVENTS
from polyad.events import EventHub
from tests.agent_process import Agent, environment
from tests.api.test_errors import problem
from tests.conftest import AppClient, MakeClient, bearer, make_token

ALWAYS_FIRING = """\
groups:
  - name: live
    interval: 100ms
    rules:
      - {alert: MemoryInUse, metric: memory.usage, op: ">=", threshold: 0, for: 200ms}
"""


async def next_event(response: ClientResponse) -> tuple[str, Any]:
    """The next `event:`/`data:` pair; comments and the `retry:` line are skipped."""
    kind, data = None, None
    async with asyncio.timeout(10):
        while True:
            line = (await response.content.readline()).decode()
            if line == "":
                raise EOFError("the stream ended")
            line = line.rstrip("\n")
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
            elif line == "" and kind is not None:
                return kind, data


async def events_of(response: ClientResponse, kind: str, count: int) -> list[Any]:
    found: list[Any] = []
    while len(found) < count:
        got, data = await next_event(response)
        if got == kind:
            found.append(data)
    return found


async def test_ticks_carry_the_console_s_numbers(make_client: MakeClient) -> None:
    client = await make_client(sampler={"interval": "100ms"})
    response = await client.get("/events")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    assert (await response.content.readline()) == b"retry: 2000\n"
    first, second = await events_of(response, "tick", 2)
    assert second["seq"] == first["seq"] + 1
    (memory,) = second["values"]["memory.usage"]
    assert memory["labels"] == {} and 0 < memory["value"] <= 100
    cores = second["values"]["cpu.cores[].usage"]
    assert [core["labels"]["cpu_logical_number"] for core in cores] == [
        str(number) for number in range(len(cores))]
    assert second["failing"] == [] and second["sampled_at"].endswith("Z")
    response.close()


async def test_a_task_s_states_come_in_order(make_client: MakeClient) -> None:
    client = await make_client(sampler={"interval": "100ms"})
    response = await client.get("/events")
    accepted = await (await client.post("/task", json={"type": "system", "action": "noop",
                                                       "data": {"seconds": 0.1}})).json()
    states = await events_of(response, "task", 3)
    assert [state["status"] for state in states] == ["queued", "running", "succeeded"]
    assert {state["task_id"] for state in states} == {accepted["task_id"]}
    assert states[-1]["progress"] == 1.0 and states[0]["action"] == "noop"
    response.close()


async def test_an_alert_s_changes_come_as_they_happen(make_client: MakeClient,
                                                     tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(ALWAYS_FIRING.replace('op: ">="', 'op: "<"'))   # never, for now
    client = await make_client(sampler={"interval": "100ms"},
                               alerts={"rule_files": [str(rules)]})
    response = await client.get("/events")
    rules.write_text(ALWAYS_FIRING)                                  # from now on, always
    assert (await client.post("/-/reload")).status == 200
    pending, firing = await events_of(response, "alert", 2)
    assert (pending["event"], pending["name"], pending["state"]) == (
        "pending", "MemoryInUse", "pending")
    assert (firing["event"], firing["state"]) == ("firing", "firing")
    assert firing["fired_at"] is not None
    response.close()


async def test_past_max_clients_a_503_with_retry_after(make_client: MakeClient) -> None:
    client = await make_client(events={"max_clients": 1})
    first = await client.get("/events")
    body = await problem(await client.get("/events"), 503)
    assert "events.max_clients" in body["detail"]
    first.close()
    for _ in range(100):       # the closed stream's place is free again
        if client.app[EVENTS].clients == 0:
            break
        await asyncio.sleep(0.01)
    again = await client.get("/events")
    assert again.status == 200
    again.close()


async def test_a_stream_ends_after_max_duration(make_client: MakeClient) -> None:
    client = await make_client(sampler={"interval": "100ms"}, events={"max_duration": "300ms"})
    response = await client.get("/events")
    async with asyncio.timeout(5):
        assert b"event: tick" in await response.read()   # to its end: it ended by itself


async def test_the_agent_stopping_ends_every_stream(make_client: MakeClient) -> None:
    client = await make_client(sampler={"interval": "100ms"})
    streams = [await client.get("/events") for _ in range(3)]
    for stream in streams:
        await next_event(stream)
    client.app[EVENTS].close()                 # what the agent's shutdown does
    for stream in streams:
        async with asyncio.timeout(5):
            while await stream.content.readline():
                pass                           # to its end, cleanly
    body = await problem(await client.get("/events"), 503)
    assert "shutting down" in body["detail"]


async def test_a_slow_stream_loses_events_and_slows_nothing() -> None:
    hub = EventHub(max_clients=2, queue_size=2)
    slow, fast = hub.open(), hub.open()
    for number in range(5):
        hub.publish("tick", {"seq": number})
        if number < 4:
            await fast.get()                   # this one keeps up
    assert (slow.qsize(), hub.dropped) == (2, 3)
    hub.close()                                # the end reaches even a full queue
    assert [slow.get_nowait(), slow.get_nowait()][-1] is None


async def test_the_dropped_events_are_counted_in_the_exposition(client: AppClient) -> None:
    client.app[EVENTS].dropped = 7
    text = await (await client.get("/metrics/prom")).text()
    assert "polyad_events_dropped_total 7.0" in text


def test_a_stopping_agent_ends_its_streams_and_exits(tmp_path: Path) -> None:
    """A real process: SIGTERM ends an open stream cleanly (its end, not a reset), and the agent
    does not wait out the stream's 30 minutes to exit."""
    agent = Agent(environment(tmp_path), tmp_path / "agent.log")
    process = agent.start()
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{agent.port}/events",
                                         headers=bearer(make_token()))
        with urllib.request.urlopen(request, timeout=10) as stream:
            assert stream.readline() == b"retry: 2000\n"
            process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            rest = stream.read()               # to its end: raises on a reset connection
        assert process.wait(timeout=15) == 0
        assert time.monotonic() - started < 10
        assert (b"retry: 2000\n" + rest).endswith(b"\n\n")   # whole events, then its end
    finally:
        agent.stop()


def test_a_client_that_goes_away_ends_its_stream_quietly(tmp_path: Path) -> None:
    """A real process (the test server cancels a view whose client left; the agent's own
    server lets it run on): a closed tab frees the stream's place, and nothing is logged as
    an error (the next write to the gone connection raised out of the view, as unhandled)."""
    log_path = tmp_path / "agent.log"
    agent = Agent({**environment(tmp_path), "POLYAD_SAMPLER__INTERVAL": "100ms",
                   "POLYAD_EVENTS__MAX_CLIENTS": "1"}, log_path)
    agent.start()
    try:
        token = make_token()
        with socket.create_connection(("127.0.0.1", agent.port), timeout=10) as tab:
            tab.sendall(f"GET /events HTTP/1.1\r\nHost: agent\r\n"
                        f"Authorization: Bearer {token}\r\n\r\n".encode())
            received = b""
            while b"event: tick" not in received:
                received += tab.recv(4096)
        deadline = time.monotonic() + 10
        while (status := stream_status(agent.port, token)) == 503:  # free once the view ends
            assert time.monotonic() < deadline, "the gone client's stream kept its place"
            time.sleep(0.05)                      # polling a condition, with a deadline
        assert status == 200
    finally:
        agent.stop()
    logged = [json.loads(line) for line in log_path.read_text().splitlines()
              if line.startswith("{")]
    assert [entry for entry in logged if entry["level"] in ("error", "critical")] == []


def stream_status(port: int, token: str) -> int:
    """The status GET /events answers (a 200's stream is closed at once)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/events", headers=bearer(token))
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except urllib.error.HTTPError as error:
        return error.code
    return 200
