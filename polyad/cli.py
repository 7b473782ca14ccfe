"""The `polyad` command: `polyad serve [--config FILE] [--host H] [--port P]`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import structlog

from polyad import __version__
from polyad.config import load_config
from polyad.errors import ConfigError
from polyad.logging import configure_logging

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polyad", description="A host agent.")
    parser.add_argument("--version", action="version", version=f"polyad {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="sample this host and serve the API")
    serve.add_argument("--config", metavar="FILE", help="YAML configuration file")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 5000)")
    return parser


def _serve(args: argparse.Namespace) -> None:
    from polyad.api.app import create_app, serve  # imported here: `--help` stays fast

    server: dict[str, Any] = {}
    if args.host is not None:
        server["host"] = args.host
    if args.port is not None:
        server["port"] = args.port
    config = load_config(args.config, overrides={"server": server} if server else None)
    serve(create_app(config))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            _serve(args)
    except ConfigError as error:
        configure_logging()
        structlog.get_logger(logger_name="polyad").error("cannot start", error=error.detail)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
