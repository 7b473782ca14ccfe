"""The `polyad` command: `serve` the agent, mint a `token` it accepts, check or export alert
`rules`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from polyad import __version__
from polyad.config import Config, load_config
from polyad.errors import ConfigError
from polyad.logging import configure_logging
from polyad.security.tokens import SCOPES
from polyad.units import parse_duration

__all__ = ["main"]

ADMIN_TOKEN_TTL_S = 12 * 3600
CONSOLE_TOKEN_TTL_S = 3600  # short: it is in a URL, which lands in shell history and screens


def _scopes(text: str) -> list[str]:
    scopes = [scope.strip() for scope in text.split(",") if scope.strip()]
    unknown = sorted(set(scopes) - set(SCOPES))
    if not scopes or unknown:
        raise argparse.ArgumentTypeError(f"expected scopes among {', '.join(SCOPES)}")
    return scopes


def _ttl(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polyad", description="A host agent.")
    parser.add_argument("--version", action="version", version=f"polyad {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="sample this host and serve the API")
    serve.add_argument("--config", metavar="FILE", help="YAML configuration file")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 5000)")
    serve.add_argument("--print-admin-token", action="store_true",
                       help="print a 12-hour token with every scope, and the console's URL with a "
                            "1-hour read token, to stdout at start")
    token = commands.add_parser("token", help="print a token the agent accepts (HMAC keys)")
    token.add_argument("--config", metavar="FILE", help="YAML configuration file")
    token.add_argument("--scope", type=_scopes, default=["read"],
                       help="comma-separated: read, tasks, admin (default read)")
    token.add_argument("--ttl", type=_ttl, default=3600.0, help="lifetime, e.g. 1h (default)")
    token.add_argument("--sub", default="cli", help="the subject: who the token is for")
    _add_rules_commands(commands)
    return parser


def _add_rules_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rules = commands.add_parser("rules", help="check alert rule files, or export them")
    actions = rules.add_subparsers(dest="rules_command", required=True)
    check = actions.add_parser("check", help="validate rule files; exit 1 listing every error")
    export = actions.add_parser("export", help="print rule files as Prometheus alerting rules")
    export.add_argument("--format", choices=["prometheus"], default="prometheus",
                        help="the rule format to write (default prometheus)")
    for action in (check, export):
        action.add_argument("files", nargs="*", metavar="FILE", type=Path,
                            help="rule files (default: the rules built into polyad)")


def _config(args: argparse.Namespace, overrides: dict[str, Any] | None = None) -> Config:
    from polyad.server import exit_on_start_failure

    try:
        config = load_config(args.config, overrides=overrides)
    except ConfigError as error:
        exit_on_start_failure(error.detail)
    configure_logging(config.logging.level, config.logging.format)
    return config


def _mint(config: Config, *, subject: str, scopes: Sequence[str], ttl_s: float) -> str:
    from polyad.security.keys import hmac_secret
    from polyad.security.tokens import issue_token
    from polyad.server import exit_on_start_failure

    if not config.auth.uses_hmac:
        exit_on_start_failure("auth uses public keys: tokens come from your identity provider")
    try:
        secret = hmac_secret(config.auth, config.state_dir)
    except ConfigError as error:
        exit_on_start_failure(error.detail, config.logging)
    return issue_token(config.auth, secret, subject=subject, scopes=scopes, ttl_s=ttl_s)


def _base_url(config: Config) -> str:
    """Where this machine reaches the agent: a wildcard bind is reached on loopback."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(  # noqa: S104
        config.server.host, config.server.host)
    return config.server.url(host)


def _print_tokens(config: Config) -> None:
    """For the person at the terminal, like a notebook server's URL token; not a log line. The
    console's token rides in the URL's fragment, which the browser never sends."""
    url = _base_url(config)
    if not (config.auth.enabled and config.auth.uses_hmac):
        if config.console.enabled:
            sys.stdout.write(f"polyad console: {url}/\n")
        sys.stdout.flush()
        return
    token = _mint(config, subject="admin", scopes=SCOPES, ttl_s=ADMIN_TOKEN_TTL_S)
    sys.stdout.write(
        f"polyad admin token (scopes {' '.join(SCOPES)}, valid 12h):\n{token}\n"
        f"  curl -H 'Authorization: Bearer {token}' {url}/status\n")
    if config.console.enabled:
        read = _mint(config, subject="console", scopes=["read"], ttl_s=CONSOLE_TOKEN_TTL_S)
        sys.stdout.write(f"polyad console (read scope, valid 1h):\n  {url}/#token={read}\n")
    sys.stdout.flush()


def _serve(args: argparse.Namespace) -> None:
    # imported here so that `--help`, `--version` and `token` stay fast
    from polyad.api.app import create_app
    from polyad.server import exit_on_start_failure, serve_or_exit

    server: dict[str, Any] = {}
    if args.host is not None:
        server["host"] = args.host
    if args.port is not None:
        server["port"] = args.port
    config = _config(args, {"server": server} if server else None)
    if args.print_admin_token:
        _print_tokens(config)
    try:
        app = create_app(config)
    except ConfigError as error:  # e.g. an unreadable public key, a secret file others can read
        exit_on_start_failure(error.detail, config.logging)
    serve_or_exit(app)


def _rules(args: argparse.Namespace) -> int:
    from polyad.alerts.rules import RuleError, builtin_rule_files, load_rules

    try:
        groups = load_rules(args.files or builtin_rule_files())
        if args.rules_command == "export":
            from polyad.alerts.export import export_prometheus

            sys.stdout.write(export_prometheus(groups))
        else:
            count = sum(len(group.rules) for group in groups)
            sys.stdout.write(f"{count} rules in {len(groups)} groups OK\n")
    except RuleError as error:
        sys.stderr.write("".join(f"{line}\n" for line in error.errors))
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging()  # stderr from the first line on: stdout is for what was asked for
    if args.command == "serve":
        _serve(args)
    elif args.command == "token":
        token = _mint(_config(args), subject=args.sub, scopes=args.scope, ttl_s=args.ttl)
        sys.stdout.write(token + "\n")
    elif args.command == "rules":
        return _rules(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
