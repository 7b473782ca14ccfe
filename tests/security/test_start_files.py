"""The signing secret file made on the first start: concurrent first starts agree on one secret,
and whatever else sits at its path is refused in one clear sentence, never a traceback."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from polyad.config import AuthConfig, load_config
from polyad.errors import ConfigError
from polyad.security.keys import SECRET_FILE, hmac_secret

STARTS = 8
ROUNDS = 25


@pytest.fixture
def auth() -> AuthConfig:
    return load_config(environ={}).auth  # no secret configured: it lives in state_dir


def first_starts_at_once(auth: AuthConfig, state_dir: Path) -> list[bytes | ConfigError]:
    together = threading.Barrier(STARTS)

    def start() -> bytes | ConfigError:
        together.wait()
        try:
            return hmac_secret(auth, state_dir)
        except ConfigError as error:
            return error

    with ThreadPoolExecutor(STARTS) as pool:
        return list(pool.map(lambda _: start(), range(STARTS)))


def test_concurrent_first_starts_all_get_the_one_secret_written(auth: AuthConfig,
                                                                tmp_path: Path) -> None:
    for round_number in range(ROUNDS):
        state_dir = tmp_path / f"round-{round_number}"
        secrets_seen = first_starts_at_once(auth, state_dir)
        written = (state_dir / SECRET_FILE).read_bytes().strip()
        assert len(written) >= 32
        assert secrets_seen == [written] * STARTS, f"round {round_number}"
        assert os.listdir(state_dir) == [SECRET_FILE]  # no draft left behind


def test_a_start_in_the_moment_after_another_created_its_file_gets_the_same_secret(
    auth: AuthConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The moment the report found: the first start has created a file, not yet written it."""
    real_open = os.open
    second: list[bytes | ConfigError] = []

    def open_then_start_another(path: str, flags: int, mode: int = 0o777, *,
                                dir_fd: int | None = None) -> int:
        descriptor = real_open(path, flags, mode, dir_fd=dir_fd)
        if flags & os.O_CREAT and not second:
            second.append(b"(starting)")
            try:
                second[0] = hmac_secret(auth, tmp_path)
            except ConfigError as error:
                second[0] = error
        return descriptor

    monkeypatch.setattr(os, "open", open_then_start_another)
    first = hmac_secret(auth, tmp_path)
    monkeypatch.undo()
    assert second == [first]
    assert (tmp_path / SECRET_FILE).read_bytes().strip() == first
    assert os.listdir(tmp_path) == [SECRET_FILE]


def test_the_secret_file_is_ours_alone(auth: AuthConfig, tmp_path: Path) -> None:
    secret = hmac_secret(auth, tmp_path / "new")
    path = tmp_path / "new" / SECRET_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    assert hmac_secret(auth, tmp_path / "new") == secret


def _symlink(path: Path) -> None:
    target = path.with_name("elsewhere")
    target.write_text("x" * 64)
    target.chmod(0o600)
    path.symlink_to(target)


def _fifo(path: Path) -> None:
    os.mkfifo(path, 0o600)


def _empty(path: Path) -> None:
    path.touch(mode=0o600)


@pytest.mark.parametrize(("make", "expected"), [
    (_symlink, "is a symbolic link: refused, since whoever can change where it points"),
    (lambda path: path.symlink_to(path.with_name("nowhere")), "is a symbolic link"),
    (lambda path: path.mkdir(mode=0o700), "is a directory, not a file holding the secret"),
    (_fifo, "is a named pipe, not a file holding the secret"),  # and does not hang
    (_empty, "holds a secret shorter than 32 bytes"),
], ids=["symlink", "dangling-symlink", "directory", "fifo", "empty"])
def test_what_is_not_a_secret_file_is_refused_naming_it(
    auth: AuthConfig, tmp_path: Path, make: Callable[[Path], object], expected: str
) -> None:
    path = tmp_path / SECRET_FILE
    make(path)
    with pytest.raises(ConfigError, match=expected) as refused:
        hmac_secret(auth, tmp_path)
    assert refused.value.detail.startswith(str(path))


def test_a_state_dir_that_is_a_file_is_refused_naming_it(auth: AuthConfig,
                                                         tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.write_text("")
    with pytest.raises(ConfigError, match=f"cannot read {state_dir / SECRET_FILE}: Not a dir"):
        hmac_secret(auth, state_dir)
