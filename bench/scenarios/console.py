"""What one open console costs the agent: the same agent, its CPU time over alternating windows
with the console open in a real headless Chromium (the page's own requests: /history, /alerts,
/tasks, /cache, then the /events stream, /status and /cache every 10 s) and with no client at
all. The cost is the difference of the medians, in percent of one core; goal under 0.5 %."""

from __future__ import annotations

import statistics
import time
from typing import Any

from playwright.sync_api import Page

from bench import peers
from bench.plan import Context
from bench.processes import Agent
from bench.report import Row, absolute, compared
from tests.console.browser import launch_chromium

SCENARIO = "console"


def window_cpu_percent(agent: Agent, seconds: float) -> float:
    before_s = agent.cpu_s()
    started = time.monotonic()
    time.sleep(seconds)
    return 100 * (agent.cpu_s() - before_s) / (time.monotonic() - started)


def open_console(page: Page, url: str) -> None:
    page.goto(url)
    page.locator("#console").wait_for(state="visible", timeout=15_000)
    page.wait_for_function("() => /%$/.test(document.getElementById('cpu-usage').textContent)",
                           timeout=15_000)


def run(context: Context) -> tuple[list[Row], dict[str, Any]]:
    plan = context.plan
    rounds = 2 if plan.quick else 3
    raw: dict[str, Any] = {"window_s": plan.idle_s, "rounds": rounds,
                           "without_console": [], "with_console": []}
    with peers.polyad(context.work_dir, "polyad-console") as polyad:
        agent = polyad.agent
        console_url = f"{agent.url}/#token={polyad.token}"
        time.sleep(plan.idle_settle_s)
        for browser in launch_chromium():
            page = browser.new_page()
            for _ in range(rounds):
                page.goto("about:blank")           # no console: the stream is closed
                raw["without_console"].append(window_cpu_percent(agent, plan.idle_s))
                open_console(page, console_url)
                time.sleep(plan.idle_settle_s)     # its first loads are not the steady cost
                raw["with_console"].append(window_cpu_percent(agent, plan.idle_s))
        raw["peak_rss_mb"] = round(agent.peak_rss_bytes() / 1e6, 1)
    without = round(statistics.median(raw["without_console"]), 3)
    with_console = round(statistics.median(raw["with_console"]), 3)
    cost = round(with_console - without, 3)
    raw |= {"median_without": without, "median_with": with_console, "cost": cost}
    rows = [
        compared(SCENARIO, "CPU % of one core, console open", with_console, without,
                 "no client"),
        absolute(SCENARIO, "cost of one open console, % of a core", cost, "< 0.5",
                 lambda figure: figure < 0.5),
    ]
    return rows, raw
