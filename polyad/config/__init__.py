"""The one configuration model: defaults in code, then a YAML file, then POLYAD_* variables.

A new section is one small model class and one field on `Config`.
"""

from __future__ import annotations

from polyad.config.alerting import (
    AlertmanagerConfig,
    AlertsConfig,
    NotifiersConfig,
    WebhookConfig,
)
from polyad.config.load import is_loopback, load_config, read_setting_file
from polyad.config.sections import (
    CacheConfig,
    CollectorConfig,
    CollectorsConfig,
    Config,
    HistoryConfig,
    HostConfig,
    LoggingConfig,
    TasksConfig,
)
from polyad.config.security import AuthConfig, CorsConfig, RateLimitConfig, RedisConfig

__all__ = [
    "AlertmanagerConfig",
    "AlertsConfig",
    "AuthConfig",
    "CacheConfig",
    "CollectorConfig",
    "CollectorsConfig",
    "Config",
    "CorsConfig",
    "HistoryConfig",
    "HostConfig",
    "LoggingConfig",
    "NotifiersConfig",
    "RateLimitConfig",
    "RedisConfig",
    "TasksConfig",
    "WebhookConfig",
    "is_loopback",
    "load_config",
    "read_setting_file",
]
