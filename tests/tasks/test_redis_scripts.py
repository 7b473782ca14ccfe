"""The queue's Lua scripts name their keys and arguments once: the Lua reads them as locals of
those names, the store passes them by name, and a name missing or misspelt fails loudly before
anything reaches Redis."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from polyad.tasks.redis_scripts import FINISH, SCRIPTS, Script
from tests.conftest import REDIS_URL


def test_keys_and_args_come_out_in_the_script_s_order_with_the_rest_last() -> None:
    keys, args = FINISH.keys_and_args(
        {"index": "i", "record": "r", "stream": "s"},
        {"fields": ["status", "succeeded"], "max_records": 9, "retention_s": 60,
         "entry_id": "1-0", "consumer": "c", "group": "g"})
    assert keys == ["s", "r", "i"]
    assert args == ["g", "c", "1-0", 60, 9, "status", "succeeded"]


def test_a_missing_or_unknown_name_is_refused() -> None:
    with pytest.raises(ValueError, match="FINISH keys: expected stream, record, index"):
        FINISH.keys_and_args({"stream": "s", "record": "r"}, {})
    with pytest.raises(ValueError, match=r"got .*\bentry\b"):
        FINISH.keys_and_args({"stream": "s", "record": "r", "index": "i"},
                             {"group": "g", "consumer": "c", "entry": "1-0", "retention_s": 1,
                              "max_records": 1, "fields": []})


def test_the_lua_declares_each_name_as_a_local() -> None:
    script = Script("T", ("a", "*more"), ("x",), "return {a, x, #more}\n")
    assert script.source == ("local a = KEYS[1]\nlocal more = {unpack(KEYS, 2)}\n"
                             "local x = ARGV[1]\nreturn {a, x, #more}\n")


async def test_every_script_compiles_in_redis_and_a_named_one_runs() -> None:
    client = aioredis.from_url(REDIS_URL, decode_responses=True)
    try:
        for script in SCRIPTS:   # SCRIPT LOAD compiles without running
            assert len(await client.script_load(script.source)) == 40, script.name
        probe = Script("T", ("a", "*more"), ("x",), "return {a, x, #more}\n")
        keys, args = probe.keys_and_args({"a": "k1", "more": ["k2", "k3"]}, {"x": "7"})
        assert await client.eval(probe.source, len(keys), *keys, *args) == ["k1", "7", 2]
    finally:
        await client.aclose()
