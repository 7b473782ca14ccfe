"""Receiver URLs in logs: scheme, host and port, never a path, query or user part."""

from __future__ import annotations

import pytest

from polyad.security.redaction import redact_url, redact_urls


@pytest.mark.parametrize(("url", "logged"), [
    ("https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/[REDACTED]"),
    ("http://127.0.0.1:9093", "http://127.0.0.1:9093"),
    ("http://127.0.0.1:9093/", "http://127.0.0.1:9093"),
    ("https://user:pw@hooks.example:8443/x?key=1", "https://hooks.example:8443/[REDACTED]"),
    ("https://hooks.example?token=abc", "https://hooks.example/[REDACTED]"),
    ("http://[::1]:9093/hook", "http://[::1]:9093/[REDACTED]"),
    ("http://[::1/hook", "[REDACTED]"),
    ("not a url", "[REDACTED]"),
])
def test_a_url_is_logged_by_its_origin_only(url: str, logged: str) -> None:
    assert redact_url(url) == logged


def test_urls_inside_an_error_message_are_cut_down() -> None:
    message = ("ClientResponseError: 503, message='Service Unavailable', "
               "url='https://hooks.slack.com/services/T000/B000/XXXX'")
    assert redact_urls(message) == ("ClientResponseError: 503, message='Service Unavailable', "
                                    "url='https://hooks.slack.com/[REDACTED]'")
