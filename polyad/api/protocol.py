"""The HTTP server under the app: how long a request's headers may take to arrive, how many
connections are held at once, what aiohttp's own error answers look like, the Server header.

aiohttp 3.14 has a setting for none of the first three: `run_app` and `AppRunner` hand their
options to its RequestHandler (the protocol of one connection), and no option picks another
class. So a small subclass of it, made by a small subclass of `web.Server`, made by
`AgentRunner`, carries them. `serve` and the tests both start the agent with `start_serving`:
what the tests see is what runs.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any, cast

import structlog
from aiohttp import hdrs, web
from aiohttp.web_protocol import RequestHandler

from polyad.api.keys import CONFIG, TLS
from polyad.api.middleware.problems import unparsed_request_response
from polyad.api.problems import PROBLEM_CONTENT_TYPE, problem_body
from polyad.config.sections import ServerConfig
from polyad.open_files import RESERVE, fit_connections

__all__ = ["SERVER_NAME", "AgentRunner", "name_the_server", "run_until_stopped",
           "start_serving"]

log = structlog.get_logger(logger_name="polyad.server")
SERVER_NAME = "polyad"  # aiohttp's default names its and Python's versions: a gift to scanners
# An idle keep-alive connection is closed after this: run_app's default, which the agent served
# with before it had its own runner (a bare AppRunner keeps one for an hour).
KEEPALIVE_TIMEOUT_S = 75.0


async def name_the_server(_: web.Request, response: web.StreamResponse) -> None:
    """An `on_response_prepare` hook: every response the app makes says only `polyad`."""
    response.headers[hdrs.SERVER] = SERVER_NAME


def _refusal(max_connections: int) -> bytes:
    body = problem_body(503, "Service Unavailable",
                        f"the agent already holds {max_connections} connections; retry shortly",
                        slug="unavailable")
    head = ("HTTP/1.1 503 Service Unavailable\r\n"
            f"Content-Type: {PROBLEM_CONTENT_TYPE}\r\nContent-Length: {len(body)}\r\n"
            f"Retry-After: 1\r\nServer: {SERVER_NAME}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


class _AgentServer(web.Server):
    """aiohttp's protocol factory, making `_Connection`s and counting those it holds."""

    def __init__(self, handler: Any, *, limits: ServerConfig, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.limits = limits
        self.refusal = _refusal(limits.max_connections)
        self.open_connections = 0

    def __call__(self) -> RequestHandler:
        return _Connection(self, loop=self._loop, **self._kwargs)


class _Connection(RequestHandler):
    """One connection: aiohttp's protocol, plus the connection cap, a deadline on each
    request's headers (read_json times the body) and problem+json for aiohttp's own errors."""

    __slots__ = ("_agent", "_counted", "_headers_deadline")

    def __init__(self, manager: _AgentServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._agent = manager
        self._counted = False
        self._headers_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._agent.open_connections >= self._agent.limits.max_connections:
            # Answered and closed before aiohttp sees it: a flood costs a write each, and
            # nothing is queued behind the connections already held.
            cast(asyncio.Transport, transport).write(self._agent.refusal)
            transport.close()
            return
        self._agent.open_connections += 1
        self._counted = True
        super().connection_made(transport)
        self._start_headers_deadline()  # a client may connect and say nothing

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self._counted:  # refused: aiohttp never had it
            return
        self._counted = False
        self._agent.open_connections -= 1
        self._stop_headers_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._awaiting_request():  # the headers are complete (or a body is arriving)
            self._stop_headers_deadline()
        elif data and self._headers_deadline is None:  # the first bytes of the next request
            self._start_headers_deadline()

    def _awaiting_request(self) -> bool:
        # The very test aiohttp's keep-alive timer makes: its request loop waits for a
        # message, i.e. no request is being handled and none is complete.
        return self._waiter is not None and not self._waiter.done()

    def _start_headers_deadline(self) -> None:
        self._headers_deadline = self._loop.call_later(self._agent.limits.read_timeout,
                                                       self._headers_too_slow)

    def _stop_headers_deadline(self) -> None:
        if self._headers_deadline is not None:
            self._headers_deadline.cancel()
            self._headers_deadline = None

    def _headers_too_slow(self) -> None:
        self._headers_deadline = None
        if self._awaiting_request():
            self.force_close()

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """aiohttp's answer to a request its parser refused (or to an error that escaped the
        app): its own is text that quotes the offending bytes."""
        if request.writer.output_size > 0:  # as aiohttp: a response has begun, only closing
            raise ConnectionError("the response has begun; the error cannot be sent")
        response = unparsed_request_response(request, status, exc)
        response.headers[hdrs.SERVER] = SERVER_NAME  # no app, so no on_response_prepare
        response.force_close()
        return response


class AgentRunner(web.AppRunner):
    """`web.AppRunner` with the agent's connection handling and its settings from `server`."""

    __slots__ = ("_limits",)

    def __init__(self, app: web.Application) -> None:
        self._limits = _within_open_files(app[CONFIG].server)
        # lingering_time: how long a body nobody reads is drained before the connection
        # closes; it is a body read too, so it gets the same bound.
        super().__init__(app, access_log=None, keepalive_timeout=KEEPALIVE_TIMEOUT_S,
                         lingering_time=self._limits.read_timeout)

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()  # the app's start-up, then aiohttp's own Server
        # The same Server with our protocol: everything aiohttp chose for it (its handler, its
        # options with the app's own) taken over as is, so none of it is copied here.
        return _AgentServer(made.request_handler, request_factory=made.request_factory,
                            handler_cancellation=made.handler_cancellation, loop=made._loop,
                            limits=self._limits, **made._kwargs)


def _within_open_files(limits: ServerConfig) -> ServerConfig:
    """`server` with a connection cap the open-file limit can hold (polyad/open_files.py)."""
    usable, open_files = fit_connections(limits.max_connections)
    if usable == limits.max_connections:
        return limits
    log.warning("server.max_connections lowered to what the open-file limit holds: raise the "
                "limit (LimitNOFILE= in a systemd unit, ulimit -n) to serve more",
                configured=limits.max_connections, usable=usable, open_files_limit=open_files,
                kept_for_the_rest=RESERVE)
    return limits.model_copy(update={"max_connections": usable})


async def start_serving(app: web.Application, host: str, port: int) -> AgentRunner:
    """The app started and listening on host:port (port 0: a free one, see `addresses`)."""
    runner = AgentRunner(app)
    await runner.setup()
    tls = app.get(TLS)
    try:
        await web.TCPSite(runner, host, port,
                          ssl_context=tls.context if tls is not None else None).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


async def run_until_stopped(app: web.Application, host: str, port: int,
                            on_listening: Callable[[], None]) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully (what `web.run_app` does)."""
    runner = await start_serving(app, host, port)
    try:
        on_listening()
        await _stop_requested()
    finally:
        await runner.cleanup()


async def _stop_requested() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
