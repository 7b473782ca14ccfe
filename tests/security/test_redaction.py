from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from polyad.logging import configure_logging
from polyad.security.redaction import REDACTED, redact_secrets

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


@pytest.mark.parametrize("key", ["authorization", "Authorization", "token", "access_token",
                                 "secret", "client_secret", "password", "API_KEY", "api-key",
                                 "Cookie"])
def test_sensitive_keys_are_redacted_in_any_case(key: str) -> None:
    assert redact_secrets(None, "info", {"event": "x", key: "hunter2"})[key] == REDACTED


def test_nested_values_and_tokens_inside_text_are_redacted() -> None:
    event = {"event": f"bad header Bearer {JWT}",
             "request": {"headers": {"Authorization": f"Bearer {JWT}", "Accept": "*/*"}},
             "items": [{"password": "p"}, f"url?access_token={JWT}", "GET /x?a=1&token=abc1 H"],
             "count": 3}
    cleaned = redact_secrets(None, "info", event)
    assert JWT not in json.dumps(cleaned)
    assert cleaned["request"]["headers"] == {"Authorization": REDACTED, "Accept": "*/*"}
    assert cleaned["items"][0] == {"password": REDACTED}
    assert cleaned["items"][2] == f"GET /x?a=1&token={REDACTED} H"
    assert cleaned["count"] == 3
    assert cleaned["event"] == f"bad header Bearer {REDACTED}"
    padded = redact_secrets(None, "info", {"event": "Bearer abc/def=="})
    assert padded["event"] == f"Bearer {REDACTED}"


@pytest.mark.parametrize(("text", "expected"), [
    ("Authorization: Basic YWRtaW46aHVudGVyMg==", f"Authorization: Basic {REDACTED}"),
    ("Bearer  spaced-token", f"Bearer {REDACTED}"),
    ("redis://:hunter2@10.0.0.1:6379/0", f"redis://:{REDACTED}@10.0.0.1:6379/0"),
    ("https://ana:pw@idp.example/x", f"https://ana:{REDACTED}@idp.example/x"),
    ("GET /cb?client_secret=abc&state=1", f"GET /cb?client_secret={REDACTED}&state=1"),
    ("Cookie: session=abc; theme=dark", f"Cookie: {REDACTED}"),
    ("nothing to hide at https://example.org/a?b=c", "nothing to hide at https://example.org/a?b=c"),
])
def test_credentials_inside_text(text: str, expected: str) -> None:
    assert redact_secrets(None, "info", {"event": text})["event"] == expected


@pytest.fixture
def reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers = []


def test_the_configured_pipeline_redacts_structlog_and_library_lines(
    capsys: pytest.CaptureFixture[str], reset_logging: None
) -> None:
    configure_logging("info", "json")
    structlog.get_logger().info("login", token=JWT, user="ana")
    logging.getLogger("aiohttp.client").warning("retrying %s", f"https://idp/?t={JWT}")
    try:
        raise ValueError(f"decode failed for {JWT}")
    except ValueError:
        structlog.get_logger().exception("oops")
    err = capsys.readouterr().err
    assert JWT not in err
    lines = [json.loads(line) for line in err.splitlines()]
    assert lines[0]["token"] == REDACTED and lines[0]["user"] == "ana"
    assert REDACTED in lines[1]["event"] and REDACTED in lines[2]["exception"]
