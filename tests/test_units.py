from __future__ import annotations

import limits
import pytest

from polyad.units import (
    format_bitrate,
    format_bytes,
    format_duration,
    parse_duration,
    parse_rate,
    parse_size,
)


@pytest.mark.parametrize(("text", "seconds"), [
    ("500ms", 0.5), ("15s", 15.0), ("2m", 120.0), ("1h30m", 5400.0), ("1d", 86400.0),
    ("2.5s", 2.5), ("3", 3.0), (4, 4.0), (0.25, 0.25),
])
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "fast", "15x", "1h 30", "-5s", "s15", True])
def test_parse_duration_refuses(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "size"), [
    ("256MB", 256 * 1024**2), ("1GB", 1024**3), ("512KB", 512 * 1024), ("1.5GB", 1536 * 1024**2),
    ("10", 10), (2048, 2048), ("64k", 64 * 1024), ("1mb", 1024**2),
])
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "12PB", "-1MB", "MB"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


@pytest.mark.parametrize(("size", "text"), [
    (0, "0B"), (512, "512B"), (8 * 1024**3, "8GB"), (int(1.2 * 1024**3), "1.2GB"),
    (1536, "1.5KB"), (3 * 1024**5, "3072TB"), (1048575, "1MB"), (1023, "1023B"),
])
def test_format_bytes_matches_the_seed_style(size: int, text: str) -> None:
    assert format_bytes(size) == text


@pytest.mark.parametrize(("bps", "text"), [
    (0, "0bps"), (999, "999bps"), (1_000_000, "1Mbps"), (10_000_000, "10Mbps"),
    (1_500, "1.5Kbps"), (2.5e9, "2.5Gbps"), (999_960, "1Mbps"), (999.94, "999.9bps"),
])
def test_format_bitrate_matches_the_seed_style(bps: float, text: str) -> None:
    assert format_bitrate(bps) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (42, "42s"), (150, "2m 30s"), (5400, "1h 30m"), (3600, "1h"),
    (90061, "1d 1h"), (86400 * 3 + 59, "3d"), (-5, "0s"),
])
def test_format_duration_matches_the_seed_style(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("text", ["600/minute", "10 per second", "5/2 minutes", "1/DAY",
                                  " 7 / hour ", "3 per 2 hours", "100/month", "2/year"])
def test_a_rate_means_what_limits_makes_of_it(text: str) -> None:
    # `limits` counts the Redis-shared rate limits: a rate must mean the same in memory
    item = limits.parse(text)
    assert parse_rate(text) == (item.amount, item.get_expiry())


@pytest.mark.parametrize("text", ["0/minute", "10/s", "ten per minute", "", "5/minute;9/hour",
                                  "-1/second", "1.5/minute"])
def test_a_rate_that_is_not_one_is_refused_with_examples(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected a rate like '600/minute'"):
        parse_rate(text)
