"""Scrape: sequential scrapes of polyad's /metrics/prom against node_exporter's /metrics
(default collectors), one kept-alive connection each, turns interleaved; latency p50/p99, and
bytes and series per scrape. Plain text both ways: no gzip, no OpenMetrics.

polyad renders its exposition at most once per sampler tick (1 s), so back-to-back scrapes
mostly get the body it already rendered, while node_exporter collects on every scrape; the
"fresh" figures space scrapes past a tick, as a Prometheus scraping every 15 s would see."""

from __future__ import annotations

import http.client
import time
from collections.abc import Mapping
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from bench import peers
from bench.plan import Context
from bench.processes import Agent
from bench.report import Row, compared
from bench.rounds import alternate, median

SCENARIO = "scrape"


class Scraper:
    """Scrapes one exporter over one kept-alive connection, as Prometheus does."""

    def __init__(self, agent: Agent, path: str, headers: Mapping[str, str]) -> None:
        parts = urlsplit(agent.url)
        self.agent = agent
        self.path = path
        self.headers = dict(headers)
        self.connection = http.client.HTTPConnection(parts.hostname or "", parts.port,
                                                     timeout=30)
        self.body = b""

    def scrape(self) -> float:
        """One scrape; its latency in milliseconds (request sent to last byte read)."""
        started = time.perf_counter()
        self.connection.request("GET", self.path, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        elapsed_ms = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"{self.agent.name} {self.path}: status {response.status}")
        self.body = body
        return elapsed_ms

    def series(self) -> int:
        return sum(1 for line in self.body.splitlines() if line and not line.startswith(b"#"))

    def close(self) -> None:
        self.connection.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def figures(latencies_ms: list[float], scraper: Scraper, cpu_s: float) -> dict[str, Any]:
    return {"p50_ms": round(median(latencies_ms), 3),
            "p99_ms": round(percentile(latencies_ms, 0.99), 3),
            "bytes": len(scraper.body), "series": scraper.series(),
            "cpu_ms_per_scrape": round(cpu_s * 1000 / len(latencies_ms), 3)}


def scrape_pair(scrapers: dict[str, Scraper], count: int,
                pause_s: float = 0.0) -> dict[str, dict[str, Any]]:
    cpu_before = {name: scraper.agent.cpu_s() for name, scraper in scrapers.items()}

    def turn(scraper: Scraper) -> float:
        time.sleep(pause_s)
        return scraper.scrape()

    latencies = alternate(count, {name: partial(turn, scraper)
                                  for name, scraper in scrapers.items()})
    return {name: figures(latencies[name], scraper, scraper.agent.cpu_s() - cpu_before[name])
            for name, scraper in scrapers.items()}


def run(context: Context) -> tuple[list[Row], dict[str, Any]]:
    plan = context.plan
    with peers.polyad(context.work_dir) as agent, \
            peers.node_exporter(context.work_dir) as exporter:
        scrapers = {"polyad": Scraper(agent.agent, "/metrics/prom", agent.auth),
                    "node_exporter": Scraper(exporter, "/metrics", {})}
        try:
            for scraper in scrapers.values():
                scraper.scrape()  # warm-up
            back_to_back = scrape_pair(scrapers, plan.scrapes)
            # 0.55 s before each turn: over a sampler tick between two of polyad's scrapes
            fresh = scrape_pair(scrapers, plan.fresh_scrapes, pause_s=0.55)
        finally:
            for scraper in scrapers.values():
                scraper.close()
    ours, theirs = back_to_back["polyad"], back_to_back["node_exporter"]
    rows = [
        compared(SCENARIO, f"{plan.scrapes} scrapes p50 ms", ours["p50_ms"], theirs["p50_ms"],
                 "node_exporter", "≤ 1x (lower)", lambda ratio: ratio <= 1),
        compared(SCENARIO, f"{plan.scrapes} scrapes p99 ms", ours["p99_ms"], theirs["p99_ms"],
                 "node_exporter"),
        compared(SCENARIO, "fresh scrape p50 ms", fresh["polyad"]["p50_ms"],
                 fresh["node_exporter"]["p50_ms"], "node_exporter"),
        compared(SCENARIO, "CPU ms per scrape", ours["cpu_ms_per_scrape"],
                 theirs["cpu_ms_per_scrape"], "node_exporter"),
        compared(SCENARIO, "bytes per scrape", ours["bytes"], theirs["bytes"], "node_exporter"),
        compared(SCENARIO, "series per scrape", ours["series"], theirs["series"],
                 "node_exporter"),
    ]
    return rows, {"scrapes": plan.scrapes, "back_to_back": back_to_back,
                  "fresh_scrapes": plan.fresh_scrapes, "fresh": fresh}
