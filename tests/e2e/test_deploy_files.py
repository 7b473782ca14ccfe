"""The shipped deployment files pass their own tools (promtool, amtool, systemd-analyze), the
exported rules match the built-in ones, and the compose stack, Dockerfile and Grafana files
agree with each other and with the agent's configuration: paths, ports, names, series."""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from polyad.alerts.export import export_prometheus
from polyad.alerts.rules import builtin_rule_files, load_rules
from polyad.config import load_config
from tests.agent_process import BIN, free_port
from tests.conftest import bearer
from tests.e2e.servers import Servers, binary
from tests.e2e.shipped import (
    DASHBOARD,
    DEPLOY,
    PROMETHEUS_YML,
    REPO,
    dashboard_targets,
    load_yaml,
    series_names,
)
from tests.test_readme import SERIES_PAGE, documented_series

COMPOSE = load_yaml(REPO / "docker-compose.yml")
SERVICES: dict[str, Any] = COMPOSE["services"]
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")


def run(*command: str, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=30,
                          check=False)


def mounts(service: str) -> dict[str, str]:
    """A service's mounts, container path → host path (`./…`) or volume name."""
    found = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target = volume.split(":")[:2]
        found[target] = source
    return found


def flag(service: str, name: str) -> str:
    (value,) = [arg.split("=", 1)[1] for arg in SERVICES[service]["command"]
                if arg.startswith(f"--{name}=")]
    return str(value)


def container_ports(service: str) -> set[int]:
    """The ports a service publishes, on the container's side."""
    return {int(port.rsplit(":", 1)[1]) for port in SERVICES[service].get("ports", [])}


def dockerfile_env() -> dict[str, str]:
    return dict(re.findall(r"\b(POLYAD_\w+)=(\S+)", DOCKERFILE))


def test_promtool_accepts_the_config_its_rules_and_the_fleet_targets(tmp_path: Path) -> None:
    # as installed in /etc/prometheus; the token comes from `polyad token` at deploy time
    shutil.copytree(DEPLOY / "prometheus", tmp_path, dirs_exist_ok=True)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "polyad.token").write_text("a-token\n")
    # promtool checks every file_sd file too: the fleet example, as an operator would name it
    shutil.copy(tmp_path / "targets" / "fleet.yml.example", tmp_path / "targets" / "fleet.yml")
    result = run(binary("promtool"), "check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # rules/: the built-in rules exported, and the rules only Prometheus evaluates
    exported = sum(len(group.rules) for group in load_rules(builtin_rule_files()))
    assert "SUCCESS: 2 rule files found" in result.stdout
    assert f"Checking rules/polyad.yml\n  SUCCESS: {exported} rules found" in result.stdout
    assert "Checking rules/polyad-prometheus-only.yml\n  SUCCESS: 3 rules found" in result.stdout
    rules = sorted(str(path) for path in (DEPLOY / "prometheus" / "rules").glob("*.yml"))
    result = run(binary("promtool"), "check", "rules", *rules)
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_accepts_the_alertmanager_config() -> None:
    path = DEPLOY / "alertmanager" / "alertmanager.yml"
    result = run(binary("amtool"), "check-config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    config = load_yaml(path)
    assert config["route"]["group_by"] == ["alertname", "instance"]


def test_the_shipped_rules_are_the_export_of_the_builtin_rules() -> None:
    shipped = (DEPLOY / "prometheus" / "rules" / "polyad.yml").read_text(encoding="utf-8")
    assert shipped == export_prometheus(load_rules(builtin_rule_files())), (
        "deploy/prometheus/rules/polyad.yml has drifted from the rules in alerts/: run "
        "`make rules`")


def test_the_systemd_unit_is_hardened_and_systemd_accepts_it(tmp_path: Path) -> None:
    text = (DEPLOY / "systemd" / "polyad.service").read_text(encoding="utf-8")
    settings = re.findall(r"^(\w+)=(.*)$", text, flags=re.MULTILINE)
    assert {("DynamicUser", "yes"), ("ProtectSystem", "strict"), ("StateDirectory", "polyad"),
            ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes"), ("ProtectHome", "yes"),
            ("DevicePolicy", "closed"), ("DeviceAllow", "char-nvidia* rw"),
            ("Environment", "POLYAD_STATE_DIR=%S/polyad")} <= set(settings)
    # PrivateDevices would hide /dev/nvidia*, ProtectProc=invisible other users' processes
    assert not {"PrivateDevices", "ProtectProc", "ProcSubset"} & dict(settings).keys()
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / "polyad.service"  # the path to the agent as installed here
    unit.write_text(text.replace("/opt/polyad/bin/polyad", str(BIN / "polyad")))
    result = run(analyze, "verify", str(unit))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


def test_every_dashboard_query_reads_only_series_polyad_exports() -> None:
    table = SERIES_PAGE.read_text(encoding="utf-8").split("<!-- series")[1].split(
        "<!-- /series")[0]
    histograms = {name for row in table.splitlines() if "histogram" in row
                  for name in re.findall(r"`([a-z][a-z0-9_]*)`", row)} & documented_series()
    exported = documented_series() | {f"{name}_{suffix}" for name in histograms
                                      for suffix in ("bucket", "count", "sum")}
    targets = dashboard_targets()
    used = {name for _, expr in targets for name in series_names(expr)}
    assert used <= exported, sorted(used - exported)
    assert all('instance=~"$instance"' in expr for _, expr in targets)
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    instance = variables["instance"]["definition"]
    found = re.fullmatch(r"label_values\((\w+), instance\)", instance)
    assert found and found[1] in exported, instance


def test_the_dashboard_has_a_panel_for_each_part_of_the_agent() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    assert all(panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24 for panel in panels)
    assert all(target["datasource"]["uid"] == "${datasource}"
               for panel in panels for target in panel["targets"])
    titles = {panel["title"] for panel in panels}
    assert {"CPU utilization", "CPU utilization per core", "Memory", "GPU utilization",
            "GPU memory", "GPU temperature", "GPU power", "Temperatures", "Network traffic",
            "Disk throughput", "Disk IOPS", "Disk utilization", "Filesystem usage",
            "Filesystem free space", "Filesystem inodes", "Pressure stall (some)",
            "Pressure stall (full)", "GPU XID errors", "GPU ECC errors", "GPU throttling",
            "Collector health", "HTTP requests", "HTTP latency", "Task queue", "Task durations",
            "Cache hit rate", "Firing alerts"} <= titles
    rows = [panel["title"] for panel in dashboard["panels"] if panel["type"] == "row"]
    assert rows == ["Host", "Disks", "Filesystems", "Pressure", "GPU", "GPU health", "Agent"]


def test_the_compose_stack_is_wired_to_the_shipped_configs() -> None:
    assert {"polyad-token", "polyad", "redis", "prometheus", "alertmanager",
            "grafana"} <= SERVICES.keys()
    for service in SERVICES:
        for target, source in mounts(service).items():
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{service} mounts {source}, which is missing"
            elif source.startswith("/"):  # the host's own trees, for the agent only, read-only
                assert (service, source) in {("polyad", "/proc"), ("polyad", "/sys"),
                                             ("polyad", "/")}
                (volume,) = [volume for volume in SERVICES[service]["volumes"]
                             if volume.startswith(f"{source}:{target}:")]
                assert "ro" in volume.split(":")[2].split(","), f"{volume} is not read-only"
            else:
                assert source in COMPOSE["volumes"], f"{service}: {source} is not declared"
            assert target.startswith("/")
    assert SERVICES["redis"]["command"][-2:] == ["--appendonly", "yes"]


def test_the_agent_in_compose_is_configured_as_documented() -> None:
    environ = {**dockerfile_env(), **SERVICES["polyad"]["environment"]}
    config = load_config(environ=environ)  # a bad POLYAD_* variable fails here, as at start
    assert (config.tasks.backend, config.cache.backend, config.rate_limit.storage) == (
        "redis", "redis", "redis")
    assert config.redis.url.startswith("redis://redis:6379/")
    assert config.server.host == "0.0.0.0" and config.auth.enabled
    assert config.server.port in container_ports("polyad")
    (alertmanager,) = [urlsplit(str(url)) for url in config.notifiers.alertmanager.urls]
    assert alertmanager.hostname in SERVICES and alertmanager.port in container_ports(
        alertmanager.hostname)
    # the state volume holds the signing secret that the token step and the agent share
    state = str(config.state_dir)
    assert mounts("polyad")[state] == mounts("polyad-token")[state] == "polyad-state"
    assert re.search(rf"install -d -o polyad -g polyad -m 0700 {state}\b", DOCKERFILE)


def test_the_compose_token_step_mints_a_token_that_the_agent_accepts(tmp_path: Path) -> None:
    # the step's shell command as written, its volumes being folders here, then the agent on
    # the same state volume: no secret anywhere but the one the step made there
    state, tokens = tmp_path / "state", tmp_path / "token"
    state.mkdir(mode=0o700)
    tokens.mkdir()
    image_env = dockerfile_env()
    volumes = {target: {"polyad-state": state, "polyad-token": tokens}[source]
               for target, source in mounts("polyad-token").items()}
    assert image_env["POLYAD_STATE_DIR"] in volumes
    (command,) = SERVICES["polyad-token"]["command"]
    for target, folder in volumes.items():
        command = command.replace(target, str(folder))
    env = {**{name: value for name, value in os.environ.items()
              if not name.startswith("POLYAD_")},
           **image_env, "POLYAD_STATE_DIR": str(state), "POLYAD_SERVER__HOST": "127.0.0.1",
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    result = run(*SERVICES["polyad-token"]["entrypoint"], command, env=env)
    assert result.returncode == 0, result.stderr
    assert (state / "auth.secret").stat().st_mode & 0o777 == 0o600
    token = (tokens / "polyad.token").read_text().strip()
    servers = Servers(tmp_path)
    try:
        agent = servers.agent("agent", env)
        servers.wait_ready("agent", agent)  # /readyz asks for no token
        request = urllib.request.Request(f"{agent}/metrics/prom", headers=bearer(token))
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
    finally:
        servers.stop()


def test_prometheus_in_compose_reads_the_shipped_files_and_the_minted_token() -> None:
    config = load_yaml(PROMETHEUS_YML)
    etc = Path(flag("prometheus", "config.file")).parent
    prometheus_mounts = mounts("prometheus")
    assert prometheus_mounts[str(etc / "prometheus.yml")] == "./deploy/prometheus/prometheus.yml"
    for pattern in config["rule_files"]:
        folder = str(etc / Path(pattern).parent)
        assert list((REPO / prometheus_mounts[folder]).glob(Path(pattern).name))
    (job,) = config["scrape_configs"]
    (file_sd,) = job["file_sd_configs"]
    for pattern in file_sd["files"]:
        folder = str(etc / Path(pattern).parent)
        assert prometheus_mounts[folder] == "./deploy/prometheus/targets"
    # the token: written by the polyad-token step into the volume Prometheus reads it from
    token = Path(job["authorization"]["credentials_file"])
    volume = prometheus_mounts[str(etc / token.parent)]
    (written,) = [target for target, source in mounts("polyad-token").items()
                  if source == volume]
    (command,) = SERVICES["polyad-token"]["command"]
    assert "polyad token --scope read --ttl 8760h" in command
    assert command.endswith(f"mv {written}/{token.name}.new {written}/{token.name}")


def test_prometheus_targets_and_the_agents_own_names_agree() -> None:
    config = load_yaml(PROMETHEUS_YML)
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics/prom"
    (relabel,) = job["relabel_configs"]
    (group,) = load_yaml(DEPLOY / "prometheus" / "targets" / "polyad.yml")
    (target,) = group["targets"]
    host, port = target.split(":")
    assert host in SERVICES and int(port) == int(dockerfile_env()["POLYAD_SERVER__PORT"])
    # Prometheus' instance for the target is the agent's own (its hostname, alerts.instance)
    joined = ";".join([group.get("labels", {}).get("instance", ""), target])
    instance = re.sub(f"^(?:{relabel['regex']})$", relabel["replacement"].replace("$", "\\"),
                      joined)
    assert instance == SERVICES[host]["hostname"] == "polyad"
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    (address,) = alertmanagers["static_configs"][0]["targets"]
    name, port = address.split(":")
    assert name in SERVICES and int(port) in container_ports(name)


def test_grafana_in_compose_provisions_the_datasource_and_the_dashboard() -> None:
    grafana_mounts = mounts("grafana")
    assert grafana_mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    (datasource,) = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" /
                              "prometheus.yml")["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == f"http://prometheus:{max(container_ports('prometheus'))}"
    (provider,) = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" /
                            "polyad.yml")["providers"]
    folder = grafana_mounts[provider["options"]["path"]]
    assert (REPO / folder / DASHBOARD.name).exists()


def test_the_dockerfile_runs_an_unprivileged_agent_with_a_health_check() -> None:
    assert re.search(r"^FROM python:3\.11-slim\b", DOCKERFILE, flags=re.MULTILINE)
    (user,) = re.findall(r"^USER (\S+)", DOCKERFILE, flags=re.MULTILINE)
    assert user not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*/healthz", DOCKERFILE, flags=re.MULTILINE | re.DOTALL)
    port = dockerfile_env()["POLYAD_SERVER__PORT"]
    assert re.search(rf"^EXPOSE {port}$", DOCKERFILE, flags=re.MULTILINE)
    assert re.search(r'^ENTRYPOINT \["polyad"\]', DOCKERFILE, flags=re.MULTILINE)
    # what it copies is there, and is all that installing the package reads
    copied = [name for line in re.findall(r"^COPY (.+) \S+$", DOCKERFILE, flags=re.MULTILINE)
              for name in line.split()]
    assert all((REPO / name).exists() for name in copied)
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert {"pyproject.toml", project["readme"], "polyad", "alerts"} <= set(copied)
    # .dockerignore leaves out everything but what is copied
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "*" in ignored
    assert all(f"!{name}" in ignored or f"!{name}/" in ignored for name in copied)


# -- the stack with TLS (docker-compose.tls.yml) ------------------------------------------------
TLS_COMPOSE = load_yaml(REPO / "docker-compose.tls.yml")["services"]


def test_the_tls_prometheus_config_is_the_shipped_one_over_mtls() -> None:
    """prometheus-tls.yml differs from prometheus.yml only in the polyad job's way in."""
    plain = load_yaml(PROMETHEUS_YML)
    tls = load_yaml(PROMETHEUS_YML.with_name("prometheus-tls.yml"))
    (job,) = plain["scrape_configs"]
    del job["authorization"]
    job |= {"scheme": "https", "tls_config": {"ca_file": "tls/ca.pem",
                                              "cert_file": "tls/prometheus.pem",
                                              "key_file": "tls/prometheus.key"}}
    assert tls == plain
    mounted = {volume.split(":")[1]: volume.split(":")[0]
               for volume in TLS_COMPOSE["prometheus"]["volumes"]}
    assert mounted["/etc/prometheus/tls"] == "polyad-certs"   # where tls/ resolves


def test_the_tls_step_makes_certificates_the_agent_and_its_check_accept(tmp_path: Path) -> None:
    """The one-shot step's shell command as written (openssl from this machine instead of
    apk's), then the agent with the override's settings and the image's healthcheck over
    mTLS, and Prometheus' certificate reading the exposition without a token."""
    (command,) = TLS_COMPOSE["polyad-certs"]["command"]
    command = (command.replace("apk add --no-cache openssl >/dev/null;", "")
               .replace("cd /certs", f"cd {tmp_path}"))
    result = run("/bin/sh", "-c", command)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "polyad.key").stat().st_mode & 0o777 == 0o600
    settings = {name: str(value).replace("/etc/polyad/tls", str(tmp_path))
                for name, value in TLS_COMPOSE["polyad"]["environment"].items()}
    env = {**{name: value for name, value in os.environ.items()
              if not name.startswith("POLYAD_")},
           "POLYAD_STATE_DIR": str(tmp_path / "state"), **settings}
    port = free_port()
    servers = Servers(tmp_path)
    try:
        servers.start("agent", [str(BIN / "polyad"), "serve", "--port", str(port)], env)
        check = TLS_COMPOSE["polyad"]["healthcheck"]["test"][-1]
        check = check.replace("/etc/polyad/tls", str(tmp_path)).replace(":5000", f":{port}")
        deadline = time.monotonic() + 20
        while run(sys.executable, "-c", check).returncode != 0:
            assert time.monotonic() < deadline, servers.log("agent")
            time.sleep(0.2)
        context = ssl.create_default_context(cafile=tmp_path / "ca.pem")
        context.load_cert_chain(tmp_path / "prometheus.pem", tmp_path / "prometheus.key")
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/metrics/prom", timeout=5,
                                    context=context) as response:
            assert response.status == 200
    finally:
        servers.stop()
