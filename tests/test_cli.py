"""The commands an operator types: `polyad serve`, `python -m polyad serve`, the seed's snippet."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import jwt
import pytest

from tests.agent_process import BIN, environment, free_port, get_json, wait_ready
from tests.conftest import bearer
from tests.test_config import billion_laughs

Serve = Callable[[Sequence[str], int], subprocess.Popen[bytes]]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Serve]:
    """Start a command that serves on a port; wait until ready; kill it at the end."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(command: Sequence[str], port: int) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(command, env=environment(tmp_path), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        processes.append(process)
        wait_ready(port, process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)  # reaps it and closes its pipes


def stop(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=10)
    return process.returncode, stderr.decode()


@pytest.mark.parametrize("launcher", [[str(BIN / "polyad")], [sys.executable, "-m", "polyad"]])
def test_serve_starts_answers_and_stops_cleanly(served: Serve, launcher: list[str],
                                               tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "polyad.yml"
    config.write_text("sampler: {interval: 200ms}\nlogging: {level: info}\n")
    process = served([*launcher, "serve", "--config", str(config), "--port", str(port)], port)
    status = get_json(f"http://127.0.0.1:{port}/status")
    assert status["status"] in ("running", "degraded")
    code, stderr = stop(process)
    assert code == 0
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events[:2]] == ["polyad starting", "polyad listening"]
    assert any(e["event"] == "request" and e["route"] == "/status" for e in events)


def test_the_seed_snippet_runs_as_written(served: Serve, tmp_path: Path) -> None:
    port = free_port()  # the seed says 5000; a free port keeps the test from colliding
    snippet = tmp_path / "seed_usage.py"
    snippet.write_text(textwrap.dedent(f"""
        from polyad.api.app import create_app

        # Créer l'application
        app = create_app()

        # Démarrer le serveur
        if __name__ == "__main__":
            app.run(host="0.0.0.0", port={port})
    """))
    process = served([sys.executable, str(snippet)], port)
    assert "cpu" in get_json(f"http://127.0.0.1:{port}/metrics")
    assert stop(process)[0] == 0


def run_cli(*args: str, tmp_path: Path, env: dict[str, str] | None = None,
            unset: Sequence[str] = (), memory_limit_bytes: int | None = None
            ) -> subprocess.CompletedProcess[str]:
    """`polyad ARGS`; `unset` names variables it must not see, `memory_limit_bytes` caps its
    address space (so that a test of a memory bomb fails, not the machine)."""
    env = {name: value for name, value in {**environment(tmp_path), **(env or {})}.items()
           if name not in unset}

    def cap_memory(limit_bytes: int) -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    return subprocess.run(
        [str(BIN / "polyad"), *args], capture_output=True, text=True, timeout=30, env=env,
        check=False, preexec_fn=None if memory_limit_bytes is None
        else lambda: cap_memory(memory_limit_bytes))


def start_failure(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed start logs, exit status 2 and no traceback: what it says."""
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    event = json.loads(line)
    assert event["event"] == "cannot start"
    return str(event["error"])


def test_auth_off_is_refused_on_a_non_loopback_address(tmp_path: Path) -> None:
    result = run_cli("serve", "--host", "0.0.0.0", "--port", str(free_port()),
                     tmp_path=tmp_path, env={"POLYAD_AUTH__ENABLED": "false"})
    assert result.returncode == 2
    error = json.loads(result.stderr.splitlines()[-1])
    assert error["event"] == "cannot start"
    assert "0.0.0.0" in error["error"] and "auth.enabled = false" in error["error"]


def test_a_bad_setting_stops_the_start_naming_key_value_and_expectation(tmp_path: Path) -> None:
    result = run_cli("serve", tmp_path=tmp_path, env={"POLYAD_SAMPLER__INTERVAL": "often"})
    assert result.returncode == 2
    error = json.loads(result.stderr.splitlines()[-1])["error"]
    assert "sampler.interval = 'often'" in error and "expected a duration" in error
    assert "Traceback" not in result.stderr


def test_a_taken_port_is_one_clear_line_not_a_traceback(served: Serve, tmp_path: Path) -> None:
    port = free_port()
    served([str(BIN / "polyad"), "serve", "--port", str(port)], port)
    result = run_cli("serve", "--port", str(port), tmp_path=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    error = json.loads(result.stderr.splitlines()[-1])
    assert error["event"] == "cannot start" and "cannot listen" in error["error"]


def test_the_seed_snippet_with_auth_off_explains_the_refusal(tmp_path: Path) -> None:
    snippet = tmp_path / "seed_usage.py"
    snippet.write_text("from polyad.api.app import create_app\n"
                       "app = create_app()\n"
                       "app.run(host='0.0.0.0', port=5000)\n")
    env = {**environment(tmp_path), "POLYAD_AUTH__ENABLED": "false"}
    result = subprocess.run([sys.executable, str(snippet)], capture_output=True, text=True,
                            timeout=30, env=env, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "non-loopback" in json.loads(result.stderr.splitlines()[-1])["error"]


def test_the_seed_snippet_with_a_bad_setting_is_one_clear_line(tmp_path: Path) -> None:
    snippet = tmp_path / "seed_usage.py"
    snippet.write_text("from polyad.api.app import create_app\napp = create_app()\n")
    env = {**environment(tmp_path), "POLYAD_SAMPLER__INTERVAL": "10ms"}
    result = subprocess.run([sys.executable, str(snippet)], capture_output=True, text=True,
                            timeout=30, env=env, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "sampler.interval" in json.loads(result.stderr.splitlines()[-1])["error"]


def test_version_and_help(tmp_path: Path) -> None:
    assert run_cli("--version", tmp_path=tmp_path).stdout.startswith("polyad ")
    assert "serve" in run_cli("--help", tmp_path=tmp_path).stdout


def get_status_with(port: int, token: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/status", headers=bearer(token))
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_token_prints_one_line_the_agent_accepts_with_its_first_run_secret(
    served: Serve, tmp_path: Path
) -> None:
    env = {k: v for k, v in environment(tmp_path).items() if k != "POLYAD_AUTH__SECRET"}
    port = free_port()
    process = subprocess.Popen([str(BIN / "polyad"), "serve", "--port", str(port),
                                "--print-admin-token"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline().decode()
        admin = process.stdout.readline().decode().strip()
        assert banner.startswith("polyad admin token")
        assert process.stdout.readline().decode().strip().startswith("curl -H 'Authorization")
        assert process.stdout.readline().decode().startswith("polyad console (read scope")
        url = process.stdout.readline().decode().strip()
        secret_file = tmp_path / "auth.secret"
        assert secret_file.stat().st_mode & 0o777 == 0o600
        # the console's token rides in the fragment, which no request carries to the agent
        assert url.startswith(f"http://127.0.0.1:{port}/#token=")
        console = jwt.decode(url.partition("#token=")[2], secret_file.read_bytes().strip(),
                             algorithms=["HS256"])
        assert console["scope"] == "read" and console["exp"] - console["iat"] == 3600
        wait_ready(port, process, token=admin)
        minted = subprocess.run([str(BIN / "polyad"), "token", "--scope", "read,tasks",
                                 "--ttl", "10m", "--sub", "grafana"], capture_output=True,
                                text=True, env=env, timeout=30, check=True)
        lines = minted.stdout.splitlines()
        assert len(lines) == 1
        claims = jwt.decode(lines[0], secret_file.read_bytes().strip(), algorithms=["HS256"])
        assert claims["sub"] == "grafana" and claims["scope"] == "read tasks"
        assert claims["exp"] - claims["iat"] == 600
        assert get_status_with(port, lines[0]) == 200
        assert get_status_with(port, admin) == 200
        assert get_status_with(port, lines[0] + "x") == 401
    finally:
        process.kill()
        process.communicate(timeout=10)


def test_token_refuses_unknown_scopes(tmp_path: Path) -> None:
    result = run_cli("token", "--scope", "read,root", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "expected scopes among read, tasks, admin" in result.stderr


def _secret_symlink(path: Path) -> None:
    (path.parent / "elsewhere").write_text("x" * 64)
    (path.parent / "elsewhere").chmod(0o600)
    path.symlink_to(path.parent / "elsewhere")


@pytest.mark.parametrize("command", [["token"], ["serve", "--port", "0"]])
@pytest.mark.parametrize(("make", "expected"), [
    (_secret_symlink, "is a symbolic link: refused"),
    (lambda path: path.symlink_to(path.parent / "nowhere"), "is a symbolic link: refused"),
    (lambda path: path.mkdir(), "is a directory, not a file holding the secret"),
], ids=["symlink", "dangling-symlink", "directory"])
def test_a_bad_secret_file_is_one_line_naming_it(
    tmp_path: Path, command: list[str], make: Callable[[Path], object], expected: str
) -> None:
    secret_file = tmp_path / "auth.secret"
    make(secret_file)
    result = run_cli(*command, tmp_path=tmp_path, unset=["POLYAD_AUTH__SECRET"])
    assert start_failure(result).startswith(f"{secret_file} {expected}")


def test_a_host_procfs_that_is_not_there_is_one_line_naming_it(tmp_path: Path) -> None:
    result = run_cli("serve", "--port", "0", tmp_path=tmp_path,
                     env={"POLYAD_HOST__PROCFS": str(tmp_path / "host" / "proc")})
    assert start_failure(result).startswith(f"host.procfs = '{tmp_path / 'host' / 'proc'}': ")


def test_a_config_file_that_is_not_utf8_is_one_line_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "polyad.yml"
    config.write_bytes("logging: {level: info}  # déjà\n".encode("latin-1"))
    result = run_cli("token", "--config", str(config), tmp_path=tmp_path)
    assert start_failure(result) == f"cannot read config file {config}: not UTF-8 text (byte 27)"


def test_an_alias_bomb_in_the_config_is_one_line_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "polyad.yml"
    config.write_text("x-laughs:\n" + billion_laughs("  ") + "logging: {level: *i}\n")
    result = run_cli("serve", "--config", str(config), "--port", "0", tmp_path=tmp_path,
                     memory_limit_bytes=1 << 30)
    assert start_failure(result).startswith(f"config file {config}:2: &a: anchors and aliases")
