"""The shipped deployment files (deploy/, docker-compose.yml, Dockerfile), read as their tools
read them, and copies of them that run here: the compose stack's host names become loopback
addresses, and everything else stays as shipped."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DEPLOY", "REPO", "alertmanager_copy", "dashboard_targets", "fill_variables",
           "load_yaml", "prometheus_copy", "series_names"]

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PROMETHEUS_YML = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "polyad.json"

# The words of PromQL that look like series names: operators, modifiers, grouping keywords.
_PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
                 "group_right", "bool", "offset", "inf", "nan"}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def prometheus_copy(directory: Path, *, alertmanager: str, targets: list[dict[str, Any]],
                    token: str, interval: str = "1s") -> Path:
    """deploy/prometheus as Prometheus reads it from /etc/prometheus, in `directory`: the same
    prometheus.yml (the compose Alertmanager's address replaced, a short interval), the same
    rules, these file_sd targets and this token in secrets/. Returns prometheus.yml's path."""
    config = load_yaml(PROMETHEUS_YML)
    config["global"].update(scrape_interval=interval, evaluation_interval=interval)
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    alertmanagers["static_configs"] = [{"targets": [alertmanager.removeprefix("http://")]}]
    shutil.copytree(DEPLOY / "prometheus" / "rules", directory / "rules")
    (directory / "targets").mkdir()
    (directory / "targets" / "agents.yml").write_text(yaml.safe_dump(targets))
    (directory / "secrets").mkdir()
    (directory / "secrets" / "polyad.token").write_text(token + "\n")
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def alertmanager_copy(directory: Path, *, webhook: str) -> Path:
    """deploy/alertmanager/alertmanager.yml with its placeholder receiver sent to `webhook`."""
    config = load_yaml(DEPLOY / "alertmanager" / "alertmanager.yml")
    for receiver in config["receivers"]:
        for webhook_config in receiver.get("webhook_configs", []):
            webhook_config["url"] = webhook
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def dashboard_targets() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every query of the shipped Grafana dashboard."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"]
            for target in panel.get("targets", [])]


def fill_variables(expr: str, instances: list[str], rate_interval: str = "1m") -> str:
    """A query as Grafana sends it: `$instance` as a multi-value regex, `$__rate_interval`."""
    escaped = "|".join(re.escape(instance).replace("\\", "\\\\") for instance in instances)
    filled = expr.replace("$__rate_interval", rate_interval).replace("$instance", f"({escaped})")
    assert "$" not in filled, f"a variable the test does not fill: {expr}"
    return filled


def series_names(expr: str) -> set[str]:
    """The series a query reads: not its functions, keywords, labels, matchers or ranges."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\b(?:by|without|on|ignoring)\s*\([^)]*\)", " ", bare)
    names = re.findall(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()", bare)
    return {name for name in names if name.lower() not in _PROMQL_WORDS}
