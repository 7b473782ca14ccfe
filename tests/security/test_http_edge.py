"""The HTTP layer under the app, attacked over raw sockets on the agent as `serve` runs it
(`start_serving`: the production runner and its settings): trickled headers and bodies, a
connection flood, malformed requests, `Expect:` games, and what the Server header gives away."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from polyad.api.app import create_app
from polyad.api.protocol import start_serving
from tests.conftest import make_token
from tests.conftest import test_config as config_for_test

PROBLEM = "application/problem+json"
WAIT_S = 5.0  # the longest any answer or close may take here; a read timeout is 0.3 s


@dataclass(frozen=True)
class Agent:
    port: int
    token: str


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def problem(self) -> dict[str, Any]:
        assert self.headers["content-type"] == PROBLEM, self
        problem: dict[str, Any] = json.loads(self.body)
        assert problem["status"] == self.status
        return problem


StartAgent = Callable[..., Awaitable[Agent]]


@pytest.fixture
async def start_agent(tmp_path: Path) -> AsyncIterator[StartAgent]:
    """Serves the real app on a free port with configuration overrides, as `serve` does."""
    runners: list[web.AppRunner] = []

    async def start(**overrides: Any) -> Agent:
        config = config_for_test(tmp_path, **overrides)
        runner = await start_serving(create_app(config), "127.0.0.1", 0)
        runners.append(runner)
        return Agent(runner.addresses[0][1], make_token(config=config))

    yield start
    for runner in runners:
        await runner.cleanup()


def http_request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: agent", *(f"{k}: {v}" for k, v in
                                                          headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_reply(reader: asyncio.StreamReader) -> Reply:
    async with asyncio.timeout(WAIT_S):
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
        headers = {name.lower(): value.strip() for name, _, value in
                   (line.partition(":") for line in header_lines)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Reply(int(status_line.split()[1]), headers, body)


@contextlib.asynccontextmanager
async def connection(port: int) -> AsyncIterator[tuple[asyncio.StreamReader,
                                                       asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def closed_by_agent(reader: asyncio.StreamReader) -> bool:
    """Whether the agent closes the connection within WAIT_S (whatever it sends first)."""
    try:
        async with asyncio.timeout(WAIT_S):
            while await reader.read(4096):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


async def trickle(writer: asyncio.StreamWriter, data: bytes, pause_s: float = 0.05) -> None:
    """Sends `data` a byte at a time, as a slowloris client does, until the agent hangs up."""
    with contextlib.suppress(ConnectionError):
        for index in range(len(data)):
            writer.write(data[index:index + 1])
            await writer.drain()
            await asyncio.sleep(pause_s)


async def test_a_body_trickled_past_read_timeout_is_a_408_then_closed(
    start_agent: StartAgent,
) -> None:
    agent = await start_agent(server={"read_timeout": "300ms"})
    body = json.dumps({"type": "system", "action": "monitor", "data": {"pad": "x" * 200}})
    async with connection(agent.port) as (reader, writer):
        writer.write(http_request("POST", "/task", {
            "Authorization": f"Bearer {agent.token}", "Content-Type": "application/json",
            "Content-Length": str(len(body))}))
        sender = asyncio.create_task(trickle(writer, body.encode()))
        reply = await read_reply(reader)
        assert reply.status == 408
        assert "did not arrive within 0.3s" in reply.problem()["detail"]
        assert await closed_by_agent(reader)
        sender.cancel()


async def test_headers_trickled_past_read_timeout_are_closed(start_agent: StartAgent) -> None:
    agent = await start_agent(server={"read_timeout": "300ms"})
    headers = http_request("GET", "/status", {f"X-Pad-{n}": "y" * 20 for n in range(40)})
    async with connection(agent.port) as (reader, writer):
        sender = asyncio.create_task(trickle(writer, headers))
        assert await closed_by_agent(reader)
        assert not sender.done()  # closed mid-headers, not after the client was done
        sender.cancel()
    async with connection(agent.port) as (reader, _):  # connects and says nothing
        assert await closed_by_agent(reader)


async def test_a_connection_past_max_connections_is_refused_at_once(
    start_agent: StartAgent,
) -> None:
    agent = await start_agent(server={"max_connections": 2})
    healthz = http_request("GET", "/healthz", {})
    async with connection(agent.port) as (reader_1, writer_1), \
            connection(agent.port) as (reader_2, writer_2):
        for reader, writer in ((reader_1, writer_1), (reader_2, writer_2)):
            writer.write(healthz)  # both held, kept alive
            assert (await read_reply(reader)).status == 200
        async with connection(agent.port) as (reader_3, _):
            refused = await read_reply(reader_3)
            assert refused.status == 503 and refused.headers["retry-after"] == "1"
            assert "2 connections" in refused.problem()["detail"]
            assert await closed_by_agent(reader_3)
    # the held ones closed, the agent serves again
    async with asyncio.timeout(WAIT_S):
        while True:
            async with connection(agent.port) as (reader, writer):
                writer.write(healthz)
                if (await read_reply(reader)).status == 200:
                    break


def _chunked_task(token: str) -> bytes:
    return http_request("POST", "/task", {
        "Authorization": f"Bearer {token}", "Content-Type": "application/json",
        "Transfer-Encoding": "chunked"}, b"ZZSECRET\r\n{}\r\n0\r\n\r\n")


@pytest.mark.parametrize(("name", "make_request"), [
    ("an oversized header", lambda token: http_request(
        "GET", "/status", {"X-Evil": "SECRETBYTES" * 1000})),
    ("bad chunked encoding", _chunked_task),
    ("a malformed request line", lambda token: b"GET\x01SECRET / HTTP/1.1\r\nHost: a\r\n\r\n"),
])
async def test_a_request_the_parser_refuses_is_a_400_problem_that_echoes_nothing(
    start_agent: StartAgent, name: str, make_request: Callable[[str], bytes],
) -> None:
    agent = await start_agent()
    async with connection(agent.port) as (reader, writer):
        writer.write(make_request(agent.token))
        reply = await read_reply(reader)
    assert reply.status == 400, name
    problem = reply.problem()
    assert b"SECRET" not in reply.body, name
    assert problem["request_id"] == reply.headers["x-request-id"]
    assert reply.headers["server"] == "polyad"


async def test_an_expected_body_over_max_body_is_413_at_once_without_100_continue(
    start_agent: StartAgent,
) -> None:
    agent = await start_agent(server={"max_body": "2KB"})
    async with connection(agent.port) as (reader, writer):
        writer.write(http_request("POST", "/task", {
            "Authorization": f"Bearer {agent.token}", "Content-Type": "application/json",
            "Content-Length": "999999", "Expect": "100-continue"}))
        reply = await read_reply(reader)  # the first thing the agent says
    assert reply.status == 413
    assert reply.problem()["detail"] == "request body is larger than 2048 bytes"
    assert reply.headers["x-request-id"]


async def test_an_unknown_expectation_is_a_417_problem_with_a_request_id(
    start_agent: StartAgent,
) -> None:
    agent = await start_agent()
    async with connection(agent.port) as (reader, writer):
        writer.write(http_request("POST", "/task", {
            "Content-Type": "application/json", "Content-Length": "2", "Expect": "200-ok",
            "X-Request-ID": "probe-417"}, b"{}"))
        reply = await read_reply(reader)
    assert reply.status == 417
    assert reply.problem()["request_id"] == "probe-417" == reply.headers["x-request-id"]
    assert reply.headers["server"] == "polyad"


async def test_100_continue_comes_only_once_the_request_may_send_its_body(
    start_agent: StartAgent,
) -> None:
    agent = await start_agent()
    body = json.dumps({"type": "system", "action": "monitor"}).encode()
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body)),
               "Expect": "100-continue"}
    async with connection(agent.port) as (reader, writer):
        writer.write(http_request("POST", "/task", headers))  # no token: no invitation
        assert (await read_reply(reader)).status == 401
    async with connection(agent.port) as (reader, writer):
        writer.write(http_request("POST", "/task", {**headers,
                                                    "Authorization": f"Bearer {agent.token}"}))
        assert (await read_reply(reader)).status == 100
        writer.write(body)
        assert (await read_reply(reader)).status == 202


async def test_the_server_header_names_no_versions(start_agent: StartAgent) -> None:
    agent = await start_agent()
    for path in ("/healthz", "/nowhere", "/status"):  # a 200, a 404, a 401
        async with connection(agent.port) as (reader, writer):
            writer.write(http_request("GET", path, {}))
            assert (await read_reply(reader)).headers["server"] == "polyad", path
