"""The console in a real headless Chromium, against a real agent process: signed in through the
URL `polyad serve --print-admin-token` prints and through the form, live values that match
/metrics, charts with points, an alert that appears when its rule fires, the processes button,
and the form again for a bad token. No page may ask another origin for anything, or log an
error. A screenshot is written to test-artifacts/ on every run."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.conftest import bearer
from tests.console.browser import (
    ARTIFACTS,
    NEVER_FIRES,
    ConsoleAgent,
    PageWatch,
    launch_chromium,
    start_agent,
    wait_until,
)

TIMEOUT_MS = 15_000
A_PERCENT = re.compile(r"^\d+\.\d %$")
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleAgent]:
    yield from start_agent(tmp_path_factory.mktemp("console-agent"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch_chromium()


@pytest.fixture
def watch(agent: ConsoleAgent) -> Iterator[PageWatch]:
    watched = PageWatch(agent.base_url)
    yield watched
    assert watched.outside == [], "the page asked another origin"
    assert watched.errors == [], "the page logged errors"


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport={"width": 1280, "height": 900})
    made.set_default_timeout(TIMEOUT_MS)
    yield made
    made.close()


@pytest.fixture
def page(context: BrowserContext, watch: PageWatch) -> Page:
    return watch.attach(context.new_page())


def api(agent: ConsoleAgent, path: str, *, method: str = "GET", scopes: tuple[str, ...] = ("read",),
        ) -> dict[str, object]:
    request = urllib.request.Request(f"{agent.base_url}{path}", method=method,
                                     headers=bearer(agent.token(*scopes)))
    with urllib.request.urlopen(request, timeout=10) as response:
        body: dict[str, object] = json.load(response)
        return body


def signed_in(page: Page) -> None:
    expect(page.locator("#console")).to_be_visible()
    expect(page.locator("#cpu-usage")).to_have_text(A_PERCENT)   # a tick has come


def test_the_printed_url_signs_in_and_leaves_no_token_in_the_address(
    agent: ConsoleAgent, page: Page,
) -> None:
    page.goto(agent.console_url)
    signed_in(page)
    assert "token" not in page.url and page.url == f"{agent.base_url}/"
    stored = page.evaluate("sessionStorage.getItem('polyad.token')")
    assert stored and agent.console_url.endswith(stored)
    status = api(agent, "/status")
    expect(page.get_by_test_id("hostname")).to_have_text(str(status["hostname"]))
    expect(page.get_by_test_id("status")).to_have_text("running")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "console.png", full_page=True)


def test_the_cpu_value_is_the_one_metrics_gives_within_the_tick(
    agent: ConsoleAgent, page: Page,
) -> None:
    page.goto(agent.console_url)
    signed_in(page)

    def same_tick() -> bool:
        cpu = api(agent, "/metrics")["cpu"]
        assert isinstance(cpu, dict)
        return page.get_by_test_id("cpu-usage").text_content() == f"{cpu['usage']:.1f} %"

    wait_until(same_tick, "the page's CPU to match /metrics")


def test_the_charts_have_the_history_and_grow_each_tick(agent: ConsoleAgent, page: Page) -> None:
    with page.expect_response(lambda response: "/history?" in response.url) as loaded:
        page.goto(agent.console_url)
    history = loaded.value.json()
    assert "since=900s" in loaded.value.url          # 15 minutes, the first range
    cpu = next(series for series in history["series"] if series["metric"] == "cpu.usage")
    assert cpu["points"], "the agent kept no CPU history"
    signed_in(page)
    chart = page.get_by_test_id("chart-cpu")
    expect(chart.locator("canvas")).to_have_count(1)
    before = int(chart.get_attribute("data-points") or 0)
    assert before >= len(cpu["points"])               # /history's points are drawn
    expect(chart).not_to_have_attribute("data-points", str(before))  # the next tick's point
    assert int(chart.get_attribute("data-points") or 0) > before
    assert page.get_by_test_id("cores").locator(".core").count() >= 1   # the per-core strip
    with page.expect_response(lambda response: "since=3600s" in response.url) as hour:
        page.get_by_label("Charts over").select_option("3600")   # by its label
    assert hour.value.ok and "step=2s" in hour.value.url
    expect(chart.locator("canvas")).to_have_count(1)


def test_an_alert_appears_when_its_rule_fires(agent: ConsoleAgent, page: Page) -> None:
    page.goto(agent.console_url)
    signed_in(page)
    alerts = page.get_by_test_id("alerts")
    expect(alerts.locator("li")).to_have_count(0)
    agent.rules.write_text(NEVER_FIRES.replace('op: ">"\n        threshold: 1000',
                                               'op: ">="\n        threshold: 0'))
    try:
        api(agent, "/-/reload", method="POST", scopes=("admin",))
        alert = alerts.locator("li", has_text="ConsoleTestAlert")
        expect(alert).to_be_visible()               # pushed by the stream, not by a reload
        expect(alert).to_contain_text("memory is in use on")
    finally:
        agent.rules.write_text(NEVER_FIRES)
        api(agent, "/-/reload", method="POST", scopes=("admin",))
    expect(alerts.locator("li")).to_have_count(0)   # resolved: gone from the page


def test_the_processes_button_shows_the_top_processes(agent: ConsoleAgent, page: Page) -> None:
    page.goto(f"{agent.base_url}/#token={agent.token('read', 'tasks')}")
    signed_in(page)
    button = page.get_by_test_id("run-processes")
    expect(button).to_be_enabled()
    button.focus()
    page.keyboard.press("Enter")                   # keyboard-reachable
    rows = page.get_by_test_id("processes").locator("tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 1
    expect(page.get_by_test_id("tasks")).to_contain_text("system.processes")
    expect(page.get_by_test_id("tasks")).to_contain_text("succeeded")


def test_a_read_token_is_told_the_button_needs_the_tasks_scope(
    agent: ConsoleAgent, page: Page,
) -> None:
    page.goto(agent.console_url)                  # the printed URL carries a read token
    signed_in(page)
    expect(page.get_by_test_id("run-processes")).to_be_disabled()
    expect(page.get_by_test_id("processes-note")).to_contain_text("tasks scope")


def test_the_form_signs_in_and_a_wrong_token_brings_it_back(
    agent: ConsoleAgent, page: Page, watch: PageWatch,
) -> None:
    page.goto(f"{agent.base_url}/")
    login = page.locator("#login")
    expect(login).to_be_visible()                 # no token yet: the agent said 401
    page.get_by_label("Bearer token").fill("not.a.token")
    page.get_by_role("button", name="Open the console").click()
    expect(page.get_by_test_id("login-reason")).to_contain_text("not valid")
    expect(page.locator("#console")).to_be_hidden()
    page.get_by_label("Bearer token").fill(agent.token("read"))
    page.get_by_label("Bearer token").press("Enter")
    signed_in(page)
    page.get_by_role("button", name="Sign out").click()
    expect(login).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('polyad.token')") is None
    # the browser logs each refused request (401) as an error of its own: expected here
    watch.errors[:] = [error for error in watch.errors if "401" not in error]


def test_an_expired_token_mid_session_brings_the_form_back(
    agent: ConsoleAgent, page: Page, watch: PageWatch,
) -> None:
    page.goto(agent.console_url)
    signed_in(page)
    page.evaluate("sessionStorage.setItem('polyad.token', 'expired.or.revoked')")
    page.get_by_test_id("range").select_option("3600")    # the next request carries it
    expect(page.get_by_test_id("login-reason")).to_contain_text("refused the token")
    watch.errors[:] = [error for error in watch.errors if "401" not in error]


def test_signing_in_again_with_less_leaves_nothing_of_the_last_token(
    agent: ConsoleAgent, page: Page,
) -> None:
    page.goto(f"{agent.base_url}/#token={agent.token('read', 'tasks')}")
    signed_in(page)
    page.get_by_test_id("run-processes").click()
    expect(page.get_by_test_id("processes").locator("tbody tr").first).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_test_id("login-reason")).to_be_empty()
    page.get_by_label("Bearer token").fill(agent.token("read"))
    page.get_by_label("Bearer token").press("Enter")
    signed_in(page)
    expect(page.get_by_test_id("processes")).to_be_hidden()
    expect(page.get_by_test_id("processes").locator("tbody tr")).to_have_count(0)
    expect(page.get_by_test_id("run-processes")).to_be_disabled()


def test_an_agent_that_does_not_answer_is_tried_again_with_the_same_token(
    agent: ConsoleAgent, page: Page, watch: PageWatch,
) -> None:
    refused: list[str] = []

    def down_once(route: Route) -> None:
        if not refused:
            refused.append(route.request.url)
            route.abort("connectionrefused")         # as while the agent restarts
        else:
            route.continue_()

    page.route("**/status", down_once)
    page.goto(agent.console_url)
    expect(page.get_by_test_id("login-reason")).to_contain_text("trying again")
    signed_in(page)                                  # by itself, a few seconds later
    assert refused and page.evaluate("sessionStorage.getItem('polyad.token')")
    watch.errors[:] = [error for error in watch.errors if "ERR_CONNECTION_REFUSED" not in error]


def test_an_event_the_page_cannot_read_is_skipped_and_the_stream_goes_on(
    agent: ConsoleAgent, page: Page, watch: PageWatch,
) -> None:
    tick = {"seq": 1, "sampled_at": "2026-01-01T00:00:00Z", "failing": [],
            "values": {"cpu.usage": [{"labels": {}, "value": 12.3}]}}
    page.route("**/events", lambda route: route.fulfill(
        status=200, content_type="text/event-stream",
        body=f"retry: 2000\n\nevent: tick\ndata: {{not json\n\n"
             f"event: tick\ndata: {json.dumps(tick)}\n\n"))
    page.goto(agent.console_url)
    expect(page.get_by_test_id("cpu-usage")).to_have_text("12.3 %")
    assert [error for error in watch.errors if "could not show" in error]
    watch.errors.clear()                              # the one expected: the bad event's


def test_on_a_phone_s_width_nothing_overflows(
    agent: ConsoleAgent, browser: Browser, watch: PageWatch,
) -> None:
    phone = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    try:
        page = watch.attach(phone.new_page())
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(agent.console_url)
        signed_in(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px screen"
        background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        assert background == "rgb(13, 17, 23)"    # the dark theme's, by prefers-color-scheme
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "console-phone-dark.png", full_page=True)
    finally:
        phone.close()
