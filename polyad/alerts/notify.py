"""Telling people: every alert change as a structured log line, and firing and resolved alerts
sent to Alertmanager (`POST /api/v2/alerts`) and to webhooks.

Sending never happens on the evaluation path: each receiver has its own delivery loop holding
the newest word on each alert, sent in batches and retried with exponential backoff for
`notifiers.retry_window`; an unreachable receiver delays nothing else, and what fired while it
was down reaches it when it is back. A firing alert is sent again every `alerts.resend_interval`
with an `endsAt` four intervals ahead, as Prometheus does, so Alertmanager resolves it by itself
if the agent goes away; a resolved one is sent with its `endsAt`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import aiohttp
import orjson
import structlog

from polyad.alerts.engine import Alert, Event, utc
from polyad.background import stop_tasks
from polyad.config import AlertsConfig, NotifiersConfig, WebhookConfig
from polyad.security.redaction import redact_url, redact_urls
from polyad.units import iso_utc

__all__ = ["SIGNATURE_HEADER", "Delivery", "Dispatcher"]

log = structlog.get_logger(logger_name="polyad.alerts")
SIGNATURE_HEADER = "X-Polyad-Signature"
_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
_LOGGED: frozenset[Event] = frozenset({"pending", "firing", "resolved", "inactive"})
Fingerprint = tuple[tuple[str, str], ...]


class Receiver(Protocol):
    name: str  # for logs: the URL's scheme, host and port only (see redact_url)

    async def send(self, session: aiohttp.ClientSession,
                   alerts: list[dict[str, Any]]) -> None:
        """Raises when the receiver did not take them."""


class AlertmanagerReceiver:
    def __init__(self, url: str, timeout_s: float) -> None:
        self.name = f"alertmanager {redact_url(url)}"
        self._url = f"{url}/api/v2/alerts"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def send(self, session: aiohttp.ClientSession,
                   alerts: list[dict[str, Any]]) -> None:
        body = [{key: alert[key] for key in ("labels", "annotations", "startsAt", "endsAt",
                                            "generatorURL")} for alert in alerts]
        async with session.post(self._url, data=orjson.dumps(body), timeout=self._timeout,
                                headers={"Content-Type": "application/json"}) as response:
            response.raise_for_status()


class WebhookReceiver:
    """Alertmanager's webhook body shape, so receivers written for it work unchanged; signed
    with HMAC-SHA256 of the exact body when a secret is configured."""

    def __init__(self, config: WebhookConfig, external_url: str) -> None:
        self.name = f"webhook {redact_url(config.url)}"
        self._url = config.url
        self._secret = config.secret.get_secret_value().encode() if config.secret else None
        self._timeout = aiohttp.ClientTimeout(total=config.timeout)
        self._external_url = external_url

    async def send(self, session: aiohttp.ClientSession,
                   alerts: list[dict[str, Any]]) -> None:
        status = "firing" if any(alert["status"] == "firing" for alert in alerts) else "resolved"
        body = orjson.dumps({"version": "4", "receiver": "polyad", "status": status,
                             "alerts": alerts, "externalURL": self._external_url})
        headers = {"Content-Type": "application/json"}
        if self._secret is not None:
            digest = hmac.new(self._secret, body, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        async with session.post(self._url, data=body, timeout=self._timeout,
                                headers=headers) as response:
            response.raise_for_status()


class Delivery:
    """One receiver's queue and loop: the newest payload per alert, sent together."""

    def __init__(self, receiver: Receiver, retry_window_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.receiver = receiver
        self._retry_window_s = retry_window_s
        self._clock = clock
        self._pending: dict[Fingerprint, tuple[dict[str, Any], float]] = {}
        self._wake = asyncio.Event()
        self.delivered = 0
        self.failures = 0

    def put(self, fingerprint: Fingerprint, payload: dict[str, Any]) -> None:
        first_s = self._pending.get(fingerprint, (None, self._clock()))[1]
        self._pending[fingerprint] = (payload, first_s)
        self._wake.set()

    async def run(self, session: aiohttp.ClientSession) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch = dict(self._pending)
            if not batch:
                continue
            try:
                await self.receiver.send(session, [payload for payload, _ in batch.values()])
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                self._failed(error)
                await asyncio.sleep(_BACKOFF_S[min(self.failures, len(_BACKOFF_S)) - 1])
                self._wake.set()
                continue
            if self.failures:
                log.info("alert receiver reachable again", receiver=self.receiver.name)
            self.failures = 0
            self.delivered += len(batch)
            for fingerprint, sent in batch.items():
                if self._pending.get(fingerprint) is sent:  # nothing newer came meanwhile
                    del self._pending[fingerprint]

    def _failed(self, error: BaseException) -> None:
        self.failures += 1
        if self.failures == 1:
            # aiohttp's errors quote the URL they failed on, path (maybe a secret) and all
            log.warning("alert receiver unreachable; retrying", receiver=self.receiver.name,
                        error=redact_urls(f"{type(error).__name__}: {error}"))
        deadline_s = self._clock() - self._retry_window_s
        expired = [key for key, (_, first_s) in self._pending.items() if first_s < deadline_s]
        for key in expired:
            del self._pending[key]
        if expired:
            log.error("alert notifications dropped after the retry window",
                      receiver=self.receiver.name, alerts=len(expired))


class Dispatcher:
    """The engine's listener: logs every change, hands firing and resolved alerts to each
    receiver's delivery, and resends firing ones every resend interval."""

    def __init__(self, alerts: AlertsConfig, notifiers: NotifiersConfig, external_url: str,
                 receivers: Sequence[Receiver] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if receivers is None:
            receivers = [*(AlertmanagerReceiver(url, notifiers.alertmanager.timeout)
                           for url in notifiers.alertmanager.urls),
                         *(WebhookReceiver(hook, external_url) for hook in notifiers.webhooks)]
        self.deliveries = [Delivery(receiver, notifiers.retry_window) for receiver in receivers]
        self._resend_s = alerts.resend_interval
        self._log = notifiers.log
        self._generator_url = f"{external_url}/alerts"
        self._clock = clock
        self._sent_at_s: dict[Fingerprint, float] = {}
        self._session: aiohttp.ClientSession | None = None
        self._loops: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if not self.deliveries:
            return
        self._session = aiohttp.ClientSession()
        self._loops = [asyncio.create_task(delivery.run(self._session),
                                           name=f"polyad-notify-{index}")
                       for index, delivery in enumerate(self.deliveries)]

    async def stop(self) -> None:
        await stop_tasks(self._loops)
        if self._session is not None:
            await self._session.close()

    def __call__(self, event: Event, alert: Alert) -> None:
        if self._log and event in _LOGGED:
            self._log_change(event, alert)
        now_s = self._clock()
        if event == "firing_still":
            if now_s - self._sent_at_s.get(alert.fingerprint, now_s) < self._resend_s:
                return
        elif event not in ("firing", "resolved"):
            return
        self._send(alert, now_s)

    def _send(self, alert: Alert, now_s: float) -> None:
        if alert.resolved_at_s is None:
            self._sent_at_s[alert.fingerprint] = now_s
        else:
            self._sent_at_s.pop(alert.fingerprint, None)
        payload = self.payload(alert, now_s)
        for delivery in self.deliveries:
            delivery.put(alert.fingerprint, payload)

    def payload(self, alert: Alert, now_s: float) -> dict[str, Any]:
        resolved = alert.resolved_at_s is not None
        ends_at_s = alert.resolved_at_s if resolved else now_s + 4 * self._resend_s
        return {"status": "resolved" if resolved else "firing", "labels": alert.labels,
                "annotations": alert.annotations(),
                "startsAt": iso_utc(utc(alert.fired_at_s or alert.active_at_s)),
                "endsAt": iso_utc(utc(ends_at_s or now_s)), "generatorURL": self._generator_url,
                "fingerprint": hashlib.sha256(orjson.dumps(alert.fingerprint)).hexdigest()[:16]}

    def _log_change(self, event: Event, alert: Alert) -> None:
        log.info("alert " + event, alertname=alert.name, state=event, value=alert.value,
                 labels=alert.labels, annotations=alert.annotations(), rule=alert.rule.source)
