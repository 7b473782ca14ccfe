"""The console's routes on the real app: the page at `/` and its files at /console/…, open to
all and holding no data, under strict security headers, revalidated by ETag; an unknown file
a 404 problem; `console.enabled: false` removes them."""

from __future__ import annotations

from polyad.api.console_views import CONTENT_SECURITY_POLICY
from polyad.console import console_files
from tests.api.test_errors import problem
from tests.conftest import MakeClient

FILES = ("/", "/console/js/main.js", "/console/console.css", "/console/favicon.svg",
         "/console/vendor/uplot/uPlot.iife.min.js", "/console/vendor/uplot/LICENSE")


async def test_the_page_and_its_files_need_no_token_and_carry_the_headers(
    make_client: MakeClient,
) -> None:
    client = await make_client(token=None)
    for path in FILES:
        response = await client.get(path)
        assert response.status == 200, path
        headers = response.headers
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert (headers["X-Content-Type-Options"], headers["Referrer-Policy"],
                headers["X-Frame-Options"]) == ("nosniff", "no-referrer", "DENY")
        assert headers["ETag"].startswith('"') and headers["Cache-Control"] == "no-cache"
    page = await client.get("/")
    assert page.content_type == "text/html" and page.charset == "utf-8"
    script = await client.get("/console/js/main.js")
    assert script.content_type == "text/javascript"   # a module is refused under nosniff else


def test_the_policy_allows_nothing_inline_and_nothing_from_elsewhere() -> None:
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'none'"
    for name in ("script-src", "style-src", "connect-src", "img-src"):
        assert directives[name] == "'self'", name
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_the_page_holds_no_inline_script_or_style() -> None:
    page = console_files()["index.html"].body.decode()
    assert "<script>" not in page and "<style" not in page and " style=" not in page
    assert " on" + "click=" not in page and "javascript:" not in page


async def test_an_unchanged_file_is_a_304_by_its_etag(make_client: MakeClient) -> None:
    client = await make_client(token=None)
    first = await client.get("/console/console.css")
    again = await client.get("/console/console.css",
                             headers={"If-None-Match": first.headers["ETag"]})
    assert again.status == 304 and await again.read() == b""
    other = await client.get("/console/console.css", headers={"If-None-Match": '"stale"'})
    assert other.status == 200


async def test_an_unknown_file_or_a_path_outside_is_a_404_problem(
    make_client: MakeClient,
) -> None:
    client = await make_client(token=None)
    for path in ("/console/nothing.js", "/console/../polyad.yml", "/console/%2e%2e/cli.py",
                 "/console/vendor/uplot/../../index.html.bak"):
        body = await problem(await client.get(path), 404)
        assert body["status"] == 404


async def test_head_answers_as_get_does(make_client: MakeClient) -> None:
    client = await make_client(token=None)
    response = await client.head("/")
    assert response.status == 200 and response.headers["Content-Security-Policy"]


async def test_console_enabled_false_removes_the_routes(make_client: MakeClient) -> None:
    client = await make_client(console={"enabled": False})
    await problem(await client.get("/"), 404)
    await problem(await client.get("/console/js/main.js"), 404)
    assert (await client.get("/status")).status == 200
