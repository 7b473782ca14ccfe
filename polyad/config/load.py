"""Loading: defaults in code, then a YAML file, then POLYAD_* variables, validated at once."""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic
import yaml

from polyad import yamlsafe
from polyad.config.sections import Config
from polyad.errors import ConfigError

__all__ = ["ENV_CONFIG_FILE", "ENV_PREFIX", "is_loopback", "load_config",
           "read_setting_file"]

ENV_PREFIX = "POLYAD_"
ENV_CONFIG_FILE = "POLYAD_CONFIG"

_FIELDS = frozenset(Config.model_fields)
# What a Kubernetes Service named "polyad" injects: not settings, and not to be refused.
_ORCHESTRATOR_NAMES = re.compile(
    r"POLYAD_(SERVICE_HOST|SERVICE_PORT\w*|PORT(_\d+_(TCP|UDP|SCTP)\w*)?)")


@functools.lru_cache(maxsize=1024)  # asked per request (peer, forwarded hops) when auth is off
def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback  # ::ffff:127.0.0.1, from a dual-stack socket
    return address.is_loopback


def load_config(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the validated configuration; any problem raises ConfigError naming key and value."""
    environ = os.environ if environ is None else environ
    path = path or environ.get(ENV_CONFIG_FILE)
    layered: dict[str, Any] = _read_yaml(Path(path)) if path else {}
    _merge(layered, _read_environ(environ))
    _merge(layered, dict(overrides or {}))
    try:
        config = Config.model_validate(layered)
    except pydantic.ValidationError as error:
        raise ConfigError(_describe(error)) from None
    return config.model_copy(update={"state_dir": config.state_dir.expanduser()})


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yamlsafe.load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"cannot read config file {path}: not UTF-8 text "
                          f"(byte {error.start})") from None
    except yaml.YAMLError as error:
        line, problem = yamlsafe.problem_of(error)
        raise ConfigError(f"config file {path}:{line}: {problem}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections")
    return loaded


def _read_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    """`POLYAD_SAMPLER__INTERVAL=2s` → `{"sampler": {"interval": "2s"}}`."""
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_CONFIG_FILE:
            continue
        if _ORCHESTRATOR_NAMES.fullmatch(name):
            continue
        keys = name.removeprefix(ENV_PREFIX).lower().split("__")
        if len(keys) == 1 and keys[0] not in _FIELDS:
            raise ConfigError(f"{name}: not a setting; settings are written "
                              f"POLYAD_<SECTION>__<KEY>, e.g. POLYAD_SAMPLER__INTERVAL")
        _merge(tree, _nest(keys, _env_value(name, raw)))
    return tree


def _env_value(name: str, raw: str) -> Any:
    """Scalars stay strings for pydantic to coerce; lists and maps are written as YAML flow."""
    if not raw.lstrip().startswith(("[", "{")):
        return raw
    try:
        return yamlsafe.load(raw)
    except yamlsafe.RefusedYaml as error:
        raise ConfigError(f"{name}: {yamlsafe.problem_of(error)[1]}") from None
    except yaml.YAMLError:
        # a mapping may hold a secret: say what is wrong, not the value (as _describe does)
        shown = "" if raw.lstrip().startswith("{") or _SECRET_KEY.search(name) else f" = {raw!r}"
        raise ConfigError(f"{name}{shown}: expected a YAML list or mapping") from None


def _nest(keys: list[str], value: Any) -> dict[str, Any]:
    for key in reversed(keys[1:]):
        value = {key: value}
    return {keys[0]: value}


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


_SECRET_KEY = re.compile(r"secret|password|token|private", re.IGNORECASE)
_USERINFO = re.compile(r"(//)[^/@\s]*@")   # a URL's user:password@


def _shown(value: object) -> str:
    """A value as an error shows it: a URL's user and password blanked."""
    return _USERINFO.sub(r"\1***@", repr(value))


def _describe(error: pydantic.ValidationError) -> str:
    lines = []
    for problem in error.errors(include_url=False):
        key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key")
        elif _SECRET_KEY.search(key) or isinstance(problem["input"], dict):
            # say what is wrong, never a secret (a whole section may hold one)
            lines.append(f"{key}: {message}")
        else:
            lines.append(f"{key} = {_shown(problem['input'])}: {message}")
    return "invalid configuration: " + "; ".join(lines)


def read_setting_file(key: str, path: Path) -> str:
    """The text of a file a setting names (a password, headers: a mounted secret), read at
    start; a ConfigError naming the setting when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{key}: cannot read {path}: "
                          f"{getattr(error, 'strerror', None) or error}") from None
