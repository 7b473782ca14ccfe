"""The alert engine: every rule group is evaluated at its interval against the newest snapshot,
and each (rule, device) alert moves inactive → pending → firing → resolved, as in Prometheus.

A condition must hold `for` before its alert fires, and a firing alert must stay clear for
`keep_firing_for` before it resolves. A rule whose metric this host cannot give (no GPU) simply
has no alerts. What changes is told to a listener (the notifiers, notify.py) as it happens.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import structlog

from polyad.alerts.rules import Rule, RuleGroup, render_template
from polyad.background import stop_tasks
from polyad.catalog import labelled
from polyad.snapshot import Snapshot

__all__ = ["Alert", "AlertEngine", "AlertState", "Event", "Listener"]

log = structlog.get_logger(logger_name="polyad.alerts")

# what happened to an alert at an evaluation; "firing_still" is every evaluation that finds it
# still firing (the notifiers resend from it)
Event = Literal["pending", "firing", "firing_still", "resolved", "inactive"]
AlertState = Literal["pending", "firing"]
Listener = Callable[[Event, "Alert"], None]


@dataclass(slots=True)
class Alert:
    rule: Rule
    labels: dict[str, str]          # alertname, instance, the rule's labels, the device's
    value: float
    active_at_s: float              # since when the condition holds (epoch seconds)
    state: AlertState = "pending"
    fired_at_s: float | None = None
    resolved_at_s: float | None = None
    clear_since_s: float | None = None   # firing, but the condition no longer holds since

    @property
    def name(self) -> str:
        return self.rule.alert

    @property
    def fingerprint(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.labels.items()))

    def annotations(self) -> dict[str, str]:
        values = {**self.labels, "value": _format_value(self.value),
                  "host": self.labels["instance"]}
        return {name: render_template(text, values)
                for name, text in self.rule.annotations.items()}


def _format_value(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.0f}"


def utc(moment_s: float) -> datetime:
    return datetime.fromtimestamp(moment_s, UTC)


class AlertEngine:
    def __init__(self, groups: Sequence[RuleGroup], *, instance: str,
                 default_interval_s: float, snapshot: Callable[[], Snapshot | None],
                 listener: Listener, clock: Callable[[], float] = time.time) -> None:
        self._groups = list(groups)
        self._instance = instance
        self._default_interval_s = default_interval_s
        self._snapshot = snapshot
        self._listener = listener
        self._clock = clock
        self._alerts: dict[str, dict[tuple[tuple[str, str], ...], Alert]] = {}
        self._loops: list[asyncio.Task[None]] = []

    # -- running -----------------------------------------------------------------------------
    def start(self) -> None:
        self._loops = [asyncio.create_task(self._run_group(group),
                                           name=f"polyad-alerts-{group.name}")
                       for group in self._groups]

    async def stop(self) -> None:
        await stop_tasks(self._loops)
        self._loops = []

    async def replace(self, groups: Sequence[RuleGroup]) -> None:
        """New rules (a reload): alerts of rules that remain keep their state (and take the new
        definition); those of rules that are gone resolve."""
        running = bool(self._loops)
        await self.stop()
        kept = {rule.alert: rule for group in groups for rule in group.rules}
        for name, alerts in list(self._alerts.items()):
            if name in kept:
                for alert in alerts.values():
                    alert.rule = kept[name]
                continue
            for alert in alerts.values():
                self._resolve(alert, self._clock())
            del self._alerts[name]
        self._groups = list(groups)
        if running:
            self.start()

    async def _run_group(self, group: RuleGroup) -> None:
        interval_s = group.interval_s or self._default_interval_s
        while True:
            snapshot = self._snapshot()
            if snapshot is not None:
                try:
                    self.evaluate(group, snapshot)
                except Exception:  # a bad rule or a listener bug must not stop the others
                    log.exception("alert evaluation failed", group=group.name)
            await asyncio.sleep(interval_s)

    # -- evaluation --------------------------------------------------------------------------
    def evaluate(self, group: RuleGroup, snapshot: Snapshot) -> None:
        now_s = self._clock()
        for rule in group.rules:
            self._evaluate_rule(rule, snapshot, now_s)

    def _evaluate_rule(self, rule: Rule, snapshot: Snapshot, now_s: float) -> None:
        alerts = self._alerts.setdefault(rule.alert, {})
        holding = set()
        for device, value in _readings(rule, snapshot):
            if not rule.holds(value):
                continue
            labels = {"alertname": rule.alert, "instance": self._instance, **rule.labels,
                      **device}
            alert = alerts.get(_key(labels))
            if alert is None:
                alert = Alert(rule, labels, value, active_at_s=now_s)
                alerts[_key(labels)] = alert
                self._listener("pending", alert)
            holding.add(_key(labels))
            alert.value, alert.clear_since_s = value, None
            self._advance(alert, now_s)
        for key, alert in list(alerts.items()):
            if key not in holding:
                self._cleared(alerts, key, alert, now_s)

    def _advance(self, alert: Alert, now_s: float) -> None:
        if alert.state == "firing":
            self._listener("firing_still", alert)
        elif now_s - alert.active_at_s >= alert.rule.for_s:
            alert.state, alert.fired_at_s = "firing", now_s
            self._listener("firing", alert)

    def _cleared(self, alerts: dict[tuple[tuple[str, str], ...], Alert],
                 key: tuple[tuple[str, str], ...], alert: Alert, now_s: float) -> None:
        if alert.state == "pending":
            del alerts[key]
            self._listener("inactive", alert)
            return
        if alert.clear_since_s is None:
            alert.clear_since_s = now_s
        if now_s - alert.clear_since_s >= alert.rule.keep_firing_for_s:
            del alerts[key]
            self._resolve(alert, now_s)
        else:
            self._listener("firing_still", alert)

    def _resolve(self, alert: Alert, now_s: float) -> None:
        if alert.state == "firing":
            alert.resolved_at_s = now_s
            self._listener("resolved", alert)
        else:
            self._listener("inactive", alert)

    # -- reading -------------------------------------------------------------------------------
    def active(self) -> list[Alert]:
        """Pending and firing alerts, firing first, then by name and labels."""
        every = [alert for alerts in self._alerts.values() for alert in alerts.values()]
        return sorted(every, key=lambda alert: (alert.state != "firing", alert.name,
                                                alert.fingerprint))

    @property
    def groups(self) -> list[RuleGroup]:
        return list(self._groups)


def _key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _readings(rule: Rule, snapshot: Snapshot) -> Iterable[tuple[dict[str, str], float]]:
    spec = rule.spec
    for label_values, value in spec.readings(snapshot):
        if value is not None:   # labelled as Prometheus' own alerts are
            yield labelled(spec, label_values), float(value)
