"""The web console's routes: the page at `/`, its other files at `/console/{path}`, from the
table `polyad.console` reads once. Open to all (the files hold no data), under strict security
headers: no inline script or style, no request but to this agent, no framing, no referrer."""

from __future__ import annotations

from aiohttp import hdrs, web

from polyad.api.bodies import expect_body
from polyad.api.keys import CONSOLE_FILES
from polyad.console import INDEX, ConsoleFile, console_files
from polyad.errors import NotFound

__all__ = ["SECURITY_HEADERS", "setup_console"]

# `connect-src 'self'`: the page's fetches go to this agent only; `img-src` for the favicon.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",                 # frame-ancestors, for browsers without CSP 2
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    # the files change with the agent's version: kept, but checked against the ETag each time
    hdrs.CACHE_CONTROL: "no-cache",
}


def setup_console(app: web.Application) -> None:
    app[CONSOLE_FILES] = console_files()
    app.router.add_get("/", index, expect_handler=expect_body)
    app.router.add_get("/console/{path:.+}", asset, expect_handler=expect_body)


async def index(request: web.Request) -> web.Response:
    return _send(request, request.app[CONSOLE_FILES][INDEX])


async def asset(request: web.Request) -> web.Response:
    found = request.app[CONSOLE_FILES].get(request.match_info["path"])
    if found is None:
        raise NotFound("no such console file")
    return _send(request, found)


def _send(request: web.Request, file: ConsoleFile) -> web.Response:
    headers = {**SECURITY_HEADERS, hdrs.ETAG: file.etag}
    if file.etag in request.headers.get(hdrs.IF_NONE_MATCH, ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=file.body, content_type=file.content_type, charset=file.charset,
                        headers=headers)
