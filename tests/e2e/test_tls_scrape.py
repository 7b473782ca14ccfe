"""A real Prometheus scraping an agent over mutual TLS, its client certificate standing in for
a token (auth.client_cert_scopes), with the scrape settings README's "HTTPS" shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.agent_process import environment
from tests.certificates import Authority
from tests.e2e.servers import Servers, prometheus_query, wait_for


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    started = Servers(tmp_path)
    try:
        yield started
    finally:
        started.stop()


def test_prometheus_scrapes_an_agent_over_mtls_without_a_token(
    tmp_path: Path, servers: Servers,
) -> None:
    (tmp_path / "agents").mkdir()
    (tmp_path / "clients").mkdir()
    agents_ca = Authority(tmp_path / "agents", "agents CA")
    clients_ca = Authority(tmp_path / "clients", "clients CA")
    served = agents_ca.issue("agent")
    prometheus_cert = clients_ca.issue("prometheus", server=False)
    agent = servers.agent("agent", {
        **environment(tmp_path), "POLYAD_SERVER__TLS__CERT_FILE": str(served.cert_file),
        "POLYAD_SERVER__TLS__KEY_FILE": str(served.key_file),
        "POLYAD_SERVER__TLS__CLIENT_CA_FILE": str(clients_ca.ca_file),
        "POLYAD_AUTH__CLIENT_CERT_SCOPES": '{"CN=prometheus": ["read"]}'})
    target = agent.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{
            "job_name": "polyad", "metrics_path": "/metrics/prom", "scheme": "https",
            "tls_config": {"ca_file": str(agents_ca.ca_file),
                           "cert_file": str(prometheus_cert.cert_file),
                           "key_file": str(prometheus_cert.key_file)},
            "static_configs": [{"targets": [target]}]}]}))
    prometheus = servers.prometheus("prometheus", config)
    servers.wait_ready("prometheus", prometheus)

    def scraped() -> list[dict[str, object]] | None:
        up = prometheus_query(prometheus, 'up{job="polyad"} == 1')
        series = prometheus_query(prometheus, "polyad_build_info")
        return series if up and series else None

    wait_for(scraped, "Prometheus to scrape the agent over mTLS", timeout_s=30)
