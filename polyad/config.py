"""The one configuration model: defaults in code, then a YAML file, then POLYAD_* variables.

A new section is one small model class and one field on `Config`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from polyad.errors import ConfigError
from polyad.units import parse_duration, parse_size

__all__ = ["Config", "is_loopback", "load_config"]

ENV_PREFIX = "POLYAD_"
ENV_CONFIG_FILE = "POLYAD_CONFIG"

Seconds = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
Bytes = Annotated[int, BeforeValidator(parse_size), Field(gt=0)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=5000, ge=0, le=65535)
    max_body: Bytes = 1024 * 1024


class SamplerConfig(Section):
    interval: Annotated[Seconds, Field(ge=0.1)] = 1.0
    # A collector that has not answered by then is marked failed for the tick.
    collector_timeout: Seconds | None = None

    @field_validator("collector_timeout")
    @classmethod
    def _within_interval(cls, timeout_s: float | None, info: ValidationInfo) -> float | None:
        interval_s = info.data.get("interval")
        if timeout_s is not None and interval_s is not None and timeout_s >= interval_s:
            raise ValueError(f"expected less than the interval ({interval_s:g}s)")
        return timeout_s

    @property
    def collector_timeout_s(self) -> float:
        return self.collector_timeout or min(self.interval * 0.8, 5.0)


class CollectorConfig(Section):
    enabled: bool = True


class NetworkCollectorConfig(CollectorConfig):
    # fnmatch patterns of interface names to leave out entirely. Container veths come and go
    # with random names: as labels they would grow without bound.
    exclude: list[str] = Field(default_factory=lambda: ["veth*", "cali*"])


class CollectorsConfig(Section):
    cpu: CollectorConfig = CollectorConfig()
    memory: CollectorConfig = CollectorConfig()
    gpu: CollectorConfig = CollectorConfig()
    sensors: CollectorConfig = CollectorConfig()
    network: NetworkCollectorConfig = NetworkCollectorConfig()


class LoggingConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


class Config(Section):
    server: ServerConfig = ServerConfig()
    sampler: SamplerConfig = SamplerConfig()
    collectors: CollectorsConfig = CollectorsConfig()
    logging: LoggingConfig = LoggingConfig()
    state_dir: Path = Path("~/.local/state/polyad")


_TOP_LEVEL = frozenset(name for name, field in Config.model_fields.items()
                       if not isinstance(field.default, BaseModel))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections")
    return loaded


def _read_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    """`POLYAD_SAMPLER__INTERVAL=2s` → `{"sampler": {"interval": "2s"}}`."""
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        keys = name.removeprefix(ENV_PREFIX).lower().split("__")
        # Only SECTION__KEY and known top-level names: orchestrators add their own POLYAD_*
        # variables (a Kubernetes Service named polyad brings POLYAD_PORT, POLYAD_SERVICE_HOST).
        if not name.startswith(ENV_PREFIX) or (len(keys) == 1 and keys[0] not in _TOP_LEVEL):
            continue
        _merge(tree, _nest(keys, _env_value(name, raw)))
    return tree


def _env_value(name: str, raw: str) -> Any:
    """Scalars stay strings for pydantic to coerce; lists and maps are written as YAML flow."""
    if not raw.lstrip().startswith(("[", "{")):
        return raw
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        raise ConfigError(f"{name} = {raw!r}: expected a YAML list or mapping") from None


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


def _describe(error: pydantic.ValidationError) -> str:
    lines = []
    for problem in error.errors(include_url=False):
        key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        if problem["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key")
        else:
            message = problem["msg"].removeprefix("Value error, ")
            lines.append(f"{key} = {problem['input']!r}: {message}")
    return "invalid configuration: " + "; ".join(lines)
