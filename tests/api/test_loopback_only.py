from __future__ import annotations

from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from polyad.api.middleware.loopback_only import loopback_only
from polyad.api.middleware.problems import problems
from polyad.api.problems import PROBLEM_CONTENT_TYPE
from polyad.errors import Forbidden


def request_from(peer: str | None) -> web.Request:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 40000) if name == "peername" and peer else default)
    return make_mocked_request("GET", "/status", transport=transport)


async def reached(_: web.Request) -> web.Response:
    return web.Response(text="reached")


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.8.8.8", "::1"])
async def test_clients_on_this_machine_are_served(peer: str) -> None:
    response = await loopback_only(request_from(peer), reached)
    assert isinstance(response, web.Response) and response.text == "reached"


@pytest.mark.parametrize("peer", ["203.0.113.7", "2001:db8::1", None])
async def test_anyone_else_is_refused_before_the_view(peer: str | None) -> None:
    with pytest.raises(Forbidden, match="serves this machine only"):
        await loopback_only(request_from(peer), reached)


async def test_the_refusal_is_a_403_problem() -> None:
    async def guarded(request: web.Request) -> web.StreamResponse:
        return await loopback_only(request, reached)

    response = await problems(request_from("203.0.113.7"), guarded)
    assert response.status == 403
    assert response.content_type == PROBLEM_CONTENT_TYPE
