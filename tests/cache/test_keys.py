"""Task result keys: one per distinct request, whatever the order of its fields."""

from __future__ import annotations

import hashlib

from polyad.cache import task_result_key


def test_the_same_request_in_any_field_order_has_one_key() -> None:
    first = task_result_key("system", "monitor", {"b": 1, "a": {"y": [1, 2], "x": None}})
    second = task_result_key("system", "monitor", {"a": {"x": None, "y": [1, 2]}, "b": 1})
    assert first == second
    digest = hashlib.sha256(b'{"a":{"x":null,"y":[1,2]},"b":1}').hexdigest()
    assert first == f"task:system.monitor:{digest}"


def test_different_requests_have_different_keys() -> None:
    keys = {task_result_key("system", "monitor", {"a": 1}),
            task_result_key("system", "monitor", {"a": 2}),
            task_result_key("system", "scan", {"a": 1}),
            task_result_key("gpu", "monitor", {"a": 1}),
            task_result_key("system", "monitor", [1])}
    assert len(keys) == 5
