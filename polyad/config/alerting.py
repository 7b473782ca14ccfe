"""Configuration of alerting: where the rules are, how often they run, and who is told."""

from __future__ import annotations

import socket
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr

from polyad.config.base import Seconds, Section

__all__ = ["AlertmanagerConfig", "AlertsConfig", "NotifiersConfig", "WebhookConfig"]


def _http_url(text: str) -> str:
    parsed = urlsplit(text)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"expected an http:// or https:// URL, got {text!r}")
    return text.rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_http_url)]


class AlertsConfig(Section):
    enabled: bool = True
    """Evaluate alert rules in the agent."""
    # Glob patterns, relative to the working directory; none: the built-in host rules.
    rule_files: list[str] = Field(default_factory=list)
    """Rule files (globs); none: the shipped alerts/*.yml."""
    evaluation_interval: Seconds = 15.0
    """Rules are evaluated this often (a group may set its own interval)."""
    resend_interval: Seconds = 60.0
    """A firing alert is sent again this often."""
    # The `instance` label of every alert: match it to what Prometheus calls this host.
    instance: str = Field(default_factory=socket.gethostname, min_length=1)
    """The instance label of the agent's alerts (as Prometheus names the target)."""
    external_url: HttpUrl | None = None
    """The agent as receivers reach it (the alerts' generatorURL)."""


class AlertmanagerConfig(Section):
    urls: list[HttpUrl] = Field(default_factory=list)
    """Alertmanagers to send alerts to, e.g. http://127.0.0.1:9093."""
    timeout: Seconds = 5.0
    """Each send gives up after this."""


class WebhookConfig(Section):
    url: HttpUrl
    """Where each alert change is posted as JSON."""
    secret: SecretStr | None = None
    """Signs each body: X-Polyad-Signature: sha256=<hex>."""
    timeout: Seconds = 5.0
    """Each post gives up after this."""


class NotifiersConfig(Section):
    alertmanager: AlertmanagerConfig = AlertmanagerConfig()
    """Alertmanager's API."""
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    """Webhooks."""
    log: bool = True
    """Every alert state change as one structured log line."""
    # A notification a receiver could not take is retried with backoff for this long.
    retry_window: Seconds = 600.0
    """A notification that keeps failing is retried this long, then dropped."""
