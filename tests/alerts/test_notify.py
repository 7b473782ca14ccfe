"""Notifiers against a real HTTP receiver: Alertmanager's body, signed webhooks, resends, and
delivery that waits out a receiver that is down without holding anything else up."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from polyad.alerts.engine import Alert
from polyad.alerts.notify import SIGNATURE_HEADER, Dispatcher
from polyad.config import load_config
from tests.alerts.test_engine import rule
from tests.fakes.clock import FakeClock


class Receiver:
    """Takes POSTs and keeps them; answers 503 while `down`."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, bytes, dict[str, str]]] = []
        self.down = False
        self.arrived = asyncio.Event()
        self.refused = 0
        self.refused_again = asyncio.Event()  # set at the second 503: the first one is done

    async def handle(self, request: web.Request) -> web.Response:
        if self.down:
            self.refused += 1
            if self.refused >= 2:
                self.refused_again.set()
            return web.Response(status=503)
        self.bodies.append((request.path, await request.read(), dict(request.headers)))
        self.arrived.set()
        return web.Response(status=200)

    async def next_body(self) -> tuple[str, Any, dict[str, str]]:
        await asyncio.wait_for(self.arrived.wait(), 10)
        self.arrived.clear()
        path, body, headers = self.bodies[-1]
        return path, orjson.loads(body), headers


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    taker = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", taker.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield taker, f"http://127.0.0.1:{server.port}"
    await server.close()


Start = Callable[..., Awaitable[tuple[Dispatcher, FakeClock]]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """Starts a dispatcher to the given Alertmanager URL (and notifier settings) on a fake
    clock; every one started is stopped after the test."""
    started: list[Dispatcher] = []

    async def make(url: str, **notifiers: Any) -> tuple[Dispatcher, FakeClock]:
        config = load_config(environ={}, overrides={
            "alerts": {"resend_interval": "1m"},
            "notifiers": {"alertmanager": {"urls": [url]}, **notifiers}})
        clock = FakeClock()
        notify = Dispatcher(config.alerts, config.notifiers, "http://agent:5000", clock=clock)
        await notify.start()
        started.append(notify)
        return notify, clock

    yield make
    for notify in started:
        await notify.stop()


def firing_alert(clock: FakeClock) -> Alert:
    alert = Alert(rule(), {"alertname": "HostHighCpu", "instance": "host-1",
                           "severity": "warning"}, 95.0, active_at_s=clock.now_s)
    alert.state, alert.fired_at_s = "firing", clock.now_s
    return alert


async def test_alertmanager_gets_firing_then_resolved_with_their_times(
    receiver: tuple[Receiver, str], start: Start,
) -> None:
    taker, url = receiver
    notify, clock = await start(url)
    alert = firing_alert(clock)
    notify("pending", alert)  # logged, not sent
    notify("firing", alert)
    path, body, _ = await taker.next_body()
    assert path == "/api/v2/alerts" and len(body) == 1
    assert body[0]["labels"] == alert.labels
    assert body[0]["annotations"] == {"summary": "HostHighCpu at 95 on host-1"}
    assert body[0]["startsAt"] == "1970-01-01T00:16:40.000Z"  # the fake clock's 1000 s
    assert body[0]["endsAt"] == "1970-01-01T00:20:40.000Z"    # four resend intervals on
    assert body[0]["generatorURL"] == "http://agent:5000/alerts"
    clock.advance(30)
    alert.resolved_at_s = clock.now_s
    notify("resolved", alert)
    _, resolved, _ = await taker.next_body()
    assert resolved[0]["endsAt"] == "1970-01-01T00:17:10.000Z"


async def test_a_firing_alert_is_sent_again_each_resend_interval(
    receiver: tuple[Receiver, str], start: Start,
) -> None:
    taker, url = receiver
    notify, clock = await start(url)
    alert = firing_alert(clock)
    notify("firing", alert)
    await taker.next_body()
    clock.advance(59)
    notify("firing_still", alert)
    await asyncio.sleep(0.2)
    assert len(taker.bodies) == 1  # not yet
    clock.advance(1)
    notify("firing_still", alert)
    await taker.next_body()
    assert len(taker.bodies) == 2


async def test_webhooks_are_signed_with_hmac_sha256(receiver: tuple[Receiver, str],
                                                start: Start) -> None:
    taker, url = receiver
    notify, clock = await start(url, alertmanager={"urls": []},
                                webhooks=[{"url": f"{url}/hook", "secret": "s3cret"}])
    notify("firing", firing_alert(clock))
    path, body, headers = await taker.next_body()
    raw = taker.bodies[-1][1]
    expected = hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
    assert path == "/hook" and headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert body["status"] == "firing" and body["alerts"][0]["status"] == "firing"
    assert body["externalURL"] == "http://agent:5000"


async def test_what_fired_while_the_receiver_was_down_arrives_when_it_returns(
    receiver: tuple[Receiver, str], start: Start,
) -> None:
    taker, url = receiver
    taker.down = True
    notify, clock = await start(url)
    notify("firing", firing_alert(clock))  # returns at once: nothing waits on delivery
    await asyncio.sleep(0.8)  # one failed try and part of the backoff
    assert notify.deliveries[0].failures >= 1 and taker.bodies == []
    taker.down = False
    _, body, _ = await taker.next_body()
    assert body[0]["labels"]["alertname"] == "HostHighCpu"
    assert notify.deliveries[0].failures == 0


async def test_a_failing_webhook_is_logged_by_its_host_never_its_secret_path(
    receiver: tuple[Receiver, str], start: Start,
) -> None:
    """A Slack-style webhook's path is its credential; the log names scheme, host and port."""
    taker, url = receiver
    taker.down = True  # 503: aiohttp's error quotes the full URL it failed on
    secret = "XXXXsecretXXXX"
    with capture_logs() as logs:
        notify, clock = await start(url, alertmanager={"urls": []},
                                    webhooks=[{"url": f"{url}/services/T000/B000/{secret}"}])
        notify("firing", firing_alert(clock))
        # a retry comes after the failure was logged
        await asyncio.wait_for(taker.refused_again.wait(), 10)
    assert secret not in repr(logs)
    unreachable = next(log for log in logs if log["event"].startswith("alert receiver"))
    assert unreachable["receiver"] == f"webhook {url}/[REDACTED]"
    assert "503" in unreachable["error"]
