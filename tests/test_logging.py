from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from polyad.logging import configure_logging


@pytest.fixture
def reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers = []


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_polyad_and_library_logs_are_one_json_object_per_line(
    capsys: pytest.CaptureFixture[str], reset_logging: None
) -> None:
    configure_logging("info", "json")  # after capsys, so it writes to the captured stream
    structlog.get_logger(logger_name="polyad.test").info("hello", count=3)
    try:
        raise ValueError("inside a library")
    except ValueError:
        logging.getLogger("aiohttp.server").exception("Error handling request")
    logging.getLogger("asyncio").debug("below the level")
    own, foreign = lines(capsys.readouterr().err)
    assert own["event"] == "hello" and own["count"] == 3 and own["level"] == "info"
    assert own["logger_name"] == "polyad.test" and str(own["timestamp"]).endswith("Z")
    assert foreign["event"] == "Error handling request"
    assert foreign["logger_name"] == "aiohttp.server" and foreign["level"] == "error"
    assert "ValueError: inside a library" in str(foreign["exception"])


def test_the_level_filters_both_kinds(
    capsys: pytest.CaptureFixture[str], reset_logging: None
) -> None:
    configure_logging("warning", "json")
    structlog.get_logger().info("quiet")
    logging.getLogger("opentelemetry").info("quiet too")
    structlog.get_logger().warning("loud")
    logging.getLogger("opentelemetry").warning("loud too")
    assert [line["event"] for line in lines(capsys.readouterr().err)] == ["loud", "loud too"]
