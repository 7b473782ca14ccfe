"""The `polyad` command: `polyad serve [--config FILE] [--host H] [--port P]`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from polyad import __version__
from polyad.config import load_config
from polyad.errors import ConfigError

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
    # imported here so that `--help` and `--version` stay fast
    from polyad.api.app import create_app, exit_on_start_failure, serve_or_exit

    server: dict[str, Any] = {}
    if args.host is not None:
        server["host"] = args.host
    if args.port is not None:
        server["port"] = args.port
    try:
        config = load_config(args.config, overrides={"server": server} if server else None)
    except ConfigError as error:
        exit_on_start_failure(error.detail)
    serve_or_exit(create_app(config))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        _serve(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
