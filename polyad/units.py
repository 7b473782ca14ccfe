"""Parsing of configured durations, sizes and rates, and the strings the API shows for values:
human sizes, rates and spans as the seed writes them, and times in one ISO 8601 form."""

from __future__ import annotations

import re
from datetime import datetime

__all__ = [
    "format_bitrate",
    "format_bytes",
    "format_duration",
    "iso_utc",
    "parse_duration",
    "parse_rate",
    "parse_size",
]

_DURATION_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_SIZE_UNITS = {"": 1, "B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?B?)", re.IGNORECASE)
# The grammar and the month and year of the `limits` package (30 and 360 days), which counts
# the Redis-shared rate limits: a rate means the same whichever store counts it.
_RATE_WINDOWS_S = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "month": 2592000,
                   "year": 31104000}
_RATE = re.compile(r"\s*(\d+)\s*(?:/|per)\s*(\d+)?\s*(second|minute|hour|day|month|year)s?\s*",
                   re.IGNORECASE)


def parse_duration(text: str | float) -> float:
    """Seconds in `text`: a number of seconds, or parts like `500ms`, `15s`, `1h30m`."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    if not isinstance(text, str):
        raise ValueError(f"expected a duration like '15s', got {text!r}")
    compact = text.strip().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", compact):
        return float(compact)
    parts = _DURATION_PART.findall(compact)
    if not parts or "".join(number + unit for number, unit in parts) != compact:
        raise ValueError(f"expected a duration like '500ms', '15s', '2m' or '1h30m', got {text!r}")
    return sum(float(number) * _DURATION_UNITS_S[unit] for number, unit in parts)


def parse_rate(text: str) -> tuple[int, int]:
    """(requests, window in seconds) of a rate like `600/minute`, `10 per second` or
    `5/2 minutes`; at least one request."""
    match = _RATE.fullmatch(text)
    if match is None or int(match[1]) < 1:
        raise ValueError(f"expected a rate like '600/minute' or '10 per second', got {text!r}")
    amount, multiple, granularity = match.groups()
    return int(amount), int(multiple or 1) * _RATE_WINDOWS_S[granularity.lower()]


def parse_size(text: str | int) -> int:
    """Bytes in `text`: a number of bytes, or `512KB`, `256MB`, `1.5GB` (powers of 1024)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    if not isinstance(text, str):
        raise ValueError(f"expected a size like '256MB', got {text!r}")
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"expected a size like '512KB', '256MB' or '1GB', got {text!r}")
    number, unit = match.groups()
    unit = unit.upper()
    if unit and not unit.endswith("B"):
        unit += "B"
    return int(float(number) * _SIZE_UNITS[unit])


def _trim(value: float) -> str:
    rounded = round(value, 1)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.1f}"


def _scaled(value: float, base: float, units: tuple[str, ...]) -> str:
    for unit in units[:-1]:
        if abs(round(value, 1)) < base:  # 1023.96KB shows as "1MB", not "1024KB"
            return f"{_trim(value)}{unit}"
        value /= base
    return f"{_trim(value)}{units[-1]}"


def format_bytes(size_bytes: float) -> str:
    """`8589934592` → `"8GB"`, `1288490188` → `"1.2GB"` (powers of 1024, as the seed shows)."""
    return _scaled(float(size_bytes), 1024, ("B", "KB", "MB", "GB", "TB"))


def format_bitrate(bits_per_second: float) -> str:
    """`1_000_000` → `"1Mbps"` (powers of 1000, as network rates are quoted)."""
    return _scaled(float(bits_per_second), 1000, ("bps", "Kbps", "Mbps", "Gbps", "Tbps"))


def format_duration(seconds: float) -> str:
    """The two leading units of a span: `5400` → `"1h 30m"`, `150` → `"2m 30s"`, `42` → `"42s"`."""
    remaining = max(0, int(seconds))
    parts: list[str] = []
    for unit, unit_s in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, unit_s)
        if count or (parts and len(parts) < 2):
            parts.append(f"{count}{unit}")
        if len(parts) == 2:
            break
    parts = [part for part in parts if not part.startswith("0")] or ["0s"]
    return " ".join(parts)


def iso_utc(moment: datetime) -> str:
    """A UTC time as every JSON body and alert notification writes it, in milliseconds with a Z,
    so timestamps sort as strings: 2024-03-21T07:50:00.123Z. (Alertmanager reads RFC 3339,
    which this is.)"""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
