"""Shared fixtures: a configuration for tests and a client on the real app factory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from polyad.api.app import create_app
from polyad.config import Config, load_config

AppClient = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[AppClient]]


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(environ={}, overrides={"state_dir": str(tmp_path / "state")})


@pytest.fixture
def make_client(aiohttp_client: Any, tmp_path: Path) -> MakeClient:
    """Start the real app with configuration overrides and return a client for it."""

    async def make(*, use_collectors: Sequence[Any] | None = None, **overrides: Any) -> AppClient:
        config = load_config(environ={}, overrides={"state_dir": str(tmp_path), **overrides})
        client: AppClient = await aiohttp_client(create_app(config, collectors=use_collectors))
        return client

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> AppClient:
    return await make_client()
