from __future__ import annotations

import re
from pathlib import Path

import pytest

from polyad.config import is_loopback, load_config
from polyad.errors import ConfigError


def test_defaults_need_no_file_and_no_server() -> None:
    config = load_config(environ={})
    assert (config.server.host, config.server.port) == ("127.0.0.1", 5000)
    assert config.server.max_body == 1024 * 1024
    assert config.sampler.interval == 1.0
    assert config.sampler.collector_timeout_s == pytest.approx(0.8)
    assert all(section.enabled for _, section in config.collectors)
    assert config.state_dir == Path("~/.local/state/polyad").expanduser()


def test_yaml_then_environment_override_in_that_order(tmp_path: Path) -> None:
    path = tmp_path / "polyad.yml"
    path.write_text("server: {port: 6000, max_body: 2MB}\nsampler: {interval: 5s}\n"
                    "collectors: {gpu: {enabled: false}}\n")
    config = load_config(path, environ={"POLYAD_SAMPLER__INTERVAL": "250ms",
                                        "POLYAD_COLLECTORS__NETWORK__EXCLUDE": "[veth*, lo]"})
    assert config.server.port == 6000
    assert config.server.max_body == 2 * 1024 * 1024
    assert config.sampler.interval == 0.25
    assert config.collectors.section("gpu").enabled is False
    assert config.collectors.section("network").model_dump()["exclude"] == ["veth*", "lo"]


def test_config_file_comes_from_the_environment_too(tmp_path: Path) -> None:
    path = tmp_path / "from-env.yml"
    path.write_text("server: {port: 7001}\n")
    assert load_config(environ={"POLYAD_CONFIG": str(path)}).server.port == 7001


@pytest.mark.parametrize(("environ", "expected"), [
    ({"POLYAD_SAMPLER__INTERVAL": "soon"}, r"sampler\.interval = 'soon': expected a duration"),
    ({"POLYAD_SERVER__PORT": "99999"}, r"server\.port = '99999': .*less than or equal to 65535"),
    ({"POLYAD_SERVER__MAX_BODY": "huge"}, r"server\.max_body = 'huge': expected a size"),
    ({"POLYAD_LOGGING__LEVEL": "loud"}, r"logging\.level = 'loud': .*'debug', 'info'"),
    ({"POLYAD_SAMPLER__INTERVALL": "1s"}, r"sampler\.intervall: unknown key"),
    ({"POLYAD_SAMPLER__INTERVAL": "10ms"}, r"sampler\.interval = '10ms': .*greater than or equal"),
    ({"POLYAD_SAMPLER__COLLECTOR_TIMEOUT": "30s"},
     r"sampler\.collector_timeout = '30s': expected less than the interval \(1s\)"),
    ({"POLYAD_COLLECTORS__NETWORK__EXCLUDE": "[veth*"},
     r"POLYAD_COLLECTORS__NETWORK__EXCLUDE = '\[veth\*': expected a YAML list"),
    ({"POLYAD_HOST__PROCFS": "host/proc"}, r"host.procfs = 'host/proc': .*absolute path"),
])
def test_bad_values_name_the_key_the_value_and_what_was_expected(
    environ: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_config(environ=environ)


def test_what_kubernetes_injects_for_a_service_named_polyad_is_not_a_setting() -> None:
    injected = {"POLYAD_PORT": "tcp://10.0.0.7:5000", "POLYAD_SERVICE_HOST": "10.0.0.7",
                "POLYAD_SERVICE_PORT": "5000", "POLYAD_SERVICE_PORT_HTTP": "5000",
                "POLYAD_PORT_5000_TCP_ADDR": "10.0.0.7", "POLYAD_PORT_5000_TCP": "tcp://x",
                "POLYAD_STATE_DIR": "/var/lib/polyad"}
    config = load_config(environ=injected)
    assert config.server.port == 5000
    assert config.state_dir == Path("/var/lib/polyad")


def test_a_whole_section_can_be_given_as_a_yaml_map() -> None:
    config = load_config(environ={"POLYAD_LOGGING": "{level: debug, format: console}"})
    assert (config.logging.level, config.logging.format) == ("debug", "console")


def test_a_mistyped_variable_is_an_error_not_silence() -> None:
    with pytest.raises(ConfigError, match="POLYAD_SAMPLER_INTERVAL: not a setting"):
        load_config(environ={"POLYAD_SAMPLER_INTERVAL": "5s"})


def test_the_default_collector_timeout_is_bounded() -> None:
    def timeout_s(interval: str) -> float:
        sampler = load_config(environ={"POLYAD_SAMPLER__INTERVAL": interval}).sampler
        return sampler.collector_timeout_s

    assert timeout_s("1m") == 5.0
    assert timeout_s("2s") == 1.6


def test_unreadable_and_malformed_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yml", environ={})
    broken = tmp_path / "broken.yml"
    broken.write_text("server: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken, environ={})
    scalar = tmp_path / "scalar.yml"
    scalar.write_text("just a string\n")
    with pytest.raises(ConfigError, match="mapping of sections"):
        load_config(scalar, environ={})


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
    ("::ffff:127.0.0.1", True), ("::ffff:10.0.0.1", False), ("fe80::1%eth0", False),
    ("0.0.0.0", False), ("::", False), ("192.168.1.4", False), ("example.org", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def billion_laughs(indent: str = "") -> str:
    """Nine lines of nine-fold aliases, under 1 KB: 9**9 strings once expanded."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"{name}: &{name} [{', '.join([f'*{before}'] * 9)}]"
              for before, name in zip("abcdefgh", "bcdefghi", strict=True)]
    return "".join(f"{indent}{line}\n" for line in lines)


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    path = tmp_path / "polyad.yml"
    # the old loader expanded this when validating logging.level: 5 GB and 80 s, then failed
    path.write_text("x-laughs:\n" + billion_laughs("  ") + "logging: {level: *i}\n")
    with pytest.raises(ConfigError) as refused:
        load_config(path, environ={})
    assert refused.value.detail == (f"config file {path}:2: &a: anchors and aliases are not "
                                    "allowed (polyad refuses them); write the value out in full")


@pytest.mark.parametrize(("text", "expected"), [
    ("defaults: &base {level: info}\nlogging: *base\n", ":1: &base: anchors and aliases"),
    ("logging: {level: info}\nsampler: {interval: 2s}\nlogging: {level: debug}\n",
     ":3: key 'logging' given twice (first on line 1); keep one"),
    ("server:\n  port: 6000\n  host: 0.0.0.0\n  port: 7000\n",
     ":4: key 'port' given twice (first on line 2); keep one"),
    ("server: {port: 6000, port: 7000}\n", ":1: key 'port' given twice"),
])
def test_anchors_and_keys_given_twice_are_refused_naming_file_and_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "polyad.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(f"config file {path}{expected}")):
        load_config(path, environ={})


def test_an_ordinary_file_with_a_merge_of_its_own_mapping_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "polyad.yml"
    path.write_text("server:\n  <<: {port: 6000}\n  host: 127.0.0.2\n")
    server = load_config(path, environ={}).server
    assert (server.port, server.host) == (6000, "127.0.0.2")


@pytest.mark.parametrize(("raw", "expected"), [
    ("{level: debug, level: info}", "POLYAD_LOGGING: key 'level' given twice"),
    ("{level: &l debug, format: *l}", "POLYAD_LOGGING: &l: anchors and aliases are not allowed"),
])
def test_environment_values_are_read_as_strictly_as_files(raw: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(environ={"POLYAD_LOGGING": raw})


def test_a_broken_mapping_in_the_environment_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as refused:  # it may hold a secret
        load_config(environ={"POLYAD_AUTH": '{secret: "hunter2-hunter2-hunter2'})
    assert refused.value.detail == "POLYAD_AUTH: expected a YAML list or mapping"


def test_a_file_that_is_not_utf8_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "polyad.yml"
    path.write_bytes("server: {port: 6000}\n# café\n".encode("latin-1"))
    with pytest.raises(ConfigError) as refused:
        load_config(path, environ={})
    assert refused.value.detail == f"cannot read config file {path}: not UTF-8 text (byte 26)"


def test_redis_timeouts_read_durations_and_must_fit_a_task_lease_s_heartbeat() -> None:
    config = load_config(environ={"POLYAD_REDIS__TIMEOUT": "250ms"},
                         overrides={"redis": {"connect_timeout": "2s", "max_connections": 8}})
    assert (config.redis.timeout, config.redis.connect_timeout,
            config.redis.max_connections) == (0.25, 2.0, 8)
    with pytest.raises(ConfigError, match=r"redis.timeout \(3s\) must be at most a third of "
                                          r"tasks.lease \(6s\)"):
        load_config(environ={}, overrides={"tasks": {"backend": "redis", "lease": "6s"},
                                           "redis": {"timeout": "3s"}})
    # with tasks in memory, a slow Redis only slows the cache and the rate limits
    assert load_config(environ={}, overrides={"tasks": {"lease": "6s"},
                                              "redis": {"timeout": "3s"}}).redis_timeout_s == 3
    # left at its default, the timeout shrinks to a short lease's third
    short = load_config(environ={}, overrides={"tasks": {"backend": "redis", "lease": "1500ms"}})
    assert (short.redis.timeout, short.redis_timeout_s) == (1.0, 0.5)
