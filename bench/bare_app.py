"""The ceiling: a bare aiohttp app that answers GET /status with fixed bytes, served as aiohttp
serves by default (`web.run_app`, the default event loop, no access log), with no middleware.
The agent's own connection handling (polyad/api/protocol.py: deadlines, the connection cap) is
part of what is measured against it."""

from __future__ import annotations

import argparse
from pathlib import Path

from aiohttp import web


def build_app(body: bytes) -> web.Application:
    async def status(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/status", status)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, required=True, help="file holding the body")
    args = parser.parse_args()
    web.run_app(build_app(args.body.read_bytes()), host="127.0.0.1", port=args.port,
                access_log=None, print=None)


if __name__ == "__main__":
    main()
