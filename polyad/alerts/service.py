"""Alerting as the agent runs it: rules loaded from their files, the engine, the notifiers, a
reload that keeps the old rules when the new ones are wrong, and the alerts as metrics."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from pathlib import Path

import structlog
from opentelemetry.metrics import CallbackOptions, Meter, Observation

from polyad.alerts.engine import Alert, AlertEngine, Event, Listener
from polyad.alerts.notify import Dispatcher
from polyad.alerts.rules import RuleError, RuleGroup, load_rules, resolve_rule_files
from polyad.config import Config
from polyad.errors import ConfigError, ValidationError
from polyad.health import HealthBoard
from polyad.snapshot import Snapshot

__all__ = ["COMPONENT", "Alerting"]

COMPONENT = "alerts"
log = structlog.get_logger(logger_name="polyad.alerts")


class Alerting:
    def __init__(self, config: Config, snapshot: Callable[[], Snapshot | None],
                 health: HealthBoard, meter: Meter) -> None:
        self._patterns = config.alerts.rule_files
        self._health = health
        try:
            groups = self._load()
        except RuleError as error:  # at start a bad rule file is fatal, as in Prometheus
            raise ConfigError("alert rules: " + "; ".join(error.errors)) from None
        self.dispatcher = Dispatcher(config.alerts, config.notifiers, _external_url(config))
        # Told of every alert change after the notifiers (the live stream)
        self.listeners: list[Listener] = []
        self.engine = AlertEngine(groups, instance=config.alerts.instance,
                                  default_interval_s=config.alerts.evaluation_interval,
                                  snapshot=snapshot, listener=self._tell)
        self._loaded(groups)
        meter.create_observable_gauge(
            "polyad.alerts", [self._observe], unit="{alert}",
            description="Active alerts (1 each), by name, severity and state")

    def _tell(self, event: Event, alert: Alert) -> None:
        self.dispatcher(event, alert)
        for listener in self.listeners:
            try:
                listener(event, alert)
            except Exception:  # a reader's bug must not stop the notifications
                log.exception("alert listener failed", alert=alert.name)

    def _load(self) -> list[RuleGroup]:
        return load_rules(resolve_rule_files(self._patterns, Path.cwd()))

    async def start(self) -> None:
        await self.dispatcher.start()
        self.engine.start()

    async def stop(self) -> None:
        await self.engine.stop()
        await self.dispatcher.stop()

    async def reload(self) -> list[RuleGroup]:
        """Reads the rule files again; when they are wrong the rules in force stay, the error is
        logged, `/status` says so, and the caller gets a 422 listing each error."""
        try:
            groups = self._load()
        except RuleError as error:
            log.error("alert rules not reloaded; the previous ones stay", errors=error.errors)
            self._health.report(COMPONENT, ok=False, detail=(
                f"reload failed with {len(error.errors)} error(s); previous rules in force"))
            raise ValidationError(
                f"the rule files have {len(error.errors)} error(s); the previous rules stay",
                errors=[{"message": message} for message in error.errors]) from None
        await self.engine.replace(groups)
        self._loaded(groups)
        log.info("alert rules reloaded", groups=len(groups), rules=_count(groups))
        return groups

    def _loaded(self, groups: list[RuleGroup]) -> None:
        self._health.report(COMPONENT, ok=True,
                            detail=f"{_count(groups)} rules in {len(groups)} groups")

    def _observe(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(1, {"alertname": alert.name, "state": alert.state,
                                "severity": alert.labels.get("severity", "")})
                for alert in self.engine.active()]


def _count(groups: Iterable[RuleGroup]) -> int:
    return sum(len(group.rules) for group in groups)


def _external_url(config: Config) -> str:
    if config.alerts.external_url:
        return config.alerts.external_url
    host = config.server.host
    if host in ("0.0.0.0", "::"):  # noqa: S104 - naming the agent, not binding
        host = socket.gethostname()
    return f"http://[{host}]:{config.server.port}" if ":" in host else \
        f"http://{host}:{config.server.port}"
