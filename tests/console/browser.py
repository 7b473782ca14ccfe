"""A real agent and a real headless Chromium for the console's tests: the agent started as
`polyad serve --print-admin-token` (its console URL read from what it prints, as a person
would), Debian's Chromium driven by Playwright, and a watch on every page for requests to
another origin and for console errors."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright

from tests.agent_process import BIN, environment, free_port, wait_ready
from tests.conftest import make_token

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "ConsoleAgent",
    "PageWatch",
    "launch_chromium",
    "start_agent",
]

CHROMIUM = os.environ.get("POLYAD_TEST_CHROMIUM", "/usr/bin/chromium")  # Debian's package
# Written on every run, not committed (.gitignore): what the page looked like.
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# This machine's network is closed: without these Chromium keeps dialling Google's hosts.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-default-apps"]

NEVER_FIRES = """\
groups:
  - name: console
    interval: 200ms
    rules:
      - alert: ConsoleTestAlert
        metric: memory.usage
        op: ">"
        threshold: 1000
        annotations: {summary: "memory is in use on {{ host }}"}
"""


@dataclass
class ConsoleAgent:
    base_url: str
    console_url: str          # what `polyad serve --print-admin-token` printed
    rules: Path
    port: int
    process: subprocess.Popen[bytes]

    def token(self, *scopes: str) -> str:
        return make_token(scopes or ("read",), subject="browser-test")


def start_agent(tmp_path: Path) -> Iterator[ConsoleAgent]:
    rules = tmp_path / "rules.yml"
    rules.write_text(NEVER_FIRES)
    port = free_port()
    config = tmp_path / "polyad.yml"
    config.write_text(f"server: {{port: {port}}}\nsampler: {{interval: 1s}}\n"
                      f"alerts: {{rule_files: [{str(rules)!r}]}}\n")
    printed = tmp_path / "stdout.txt"
    with printed.open("wb") as stdout, (tmp_path / "agent.log").open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "polyad"), "serve", "--config", str(config), "--print-admin-token"],
            env=environment(tmp_path), stdout=stdout, stderr=log)
    try:
        wait_ready(port, process)
        found = re.search(r"http://\S+/#token=\S+", printed.read_text())
        assert found, f"no console URL in what the agent printed: {printed.read_text()!r}"
        yield ConsoleAgent(f"http://127.0.0.1:{port}", found.group(0), rules, port, process)
    finally:
        process.terminate()
        process.wait(timeout=20)


def launch_chromium() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), (
        f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class PageWatch:
    """What a page did that it must not: a request to another origin, a console error, an
    uncaught exception."""

    origin: str
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> Page:
        page.on("request", self._request)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        return page

    def _request(self, request: Request) -> None:
        if not (request.url.startswith(self.origin + "/") or request.url.startswith("data:")):
            self.outside.append(request.url)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)


def wait_until(condition: Any, what: str, timeout_s: float = 15.0) -> Any:
    """Polls a condition of the page (a browser's state has no event to await from here)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"waited {timeout_s} s for {what}"
        time.sleep(0.05)
