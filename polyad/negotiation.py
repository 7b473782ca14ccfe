"""Content negotiation for the metrics endpoints (RFC 9110 §12.5.1): JSON or the Prometheus
exposition, and which exposition. Lenient on purpose: no Accept header ever fails a scrape.

Below the HTTP layer because Telemetry picks the exposition format with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["EXPOSITION_MEDIA_TYPES", "OPENMETRICS", "TEXT", "MediaRange", "media_ranges",
           "wants_exposition", "wants_openmetrics"]

JSON = "application/json"
OPENMETRICS = "application/openmetrics-text"
TEXT = "text/plain"
EXPOSITION_MEDIA_TYPES = (TEXT, OPENMETRICS)
# Where application/json sits in an Accept header, most specific first: the most specific
# range that matches a type gives its q (RFC 9110 §12.5.1).
_JSON_RANGES = (JSON, "application/*", "*/*")


@dataclass(frozen=True, slots=True)
class MediaRange:
    media_type: str              # lower case: "text/plain", "application/*", "*/*"
    parameters: frozenset[str]   # the names of its parameters before q, lower case
    quality: float               # q, from 0 to 1


def media_ranges(accept: str) -> list[MediaRange]:
    """The ranges of an Accept header; an empty part is skipped, a malformed q counts as 1."""
    ranges = []
    for part in accept.split(","):
        media_type, *parameters = (item.strip() for item in part.split(";"))
        if not media_type:
            continue
        names: set[str] = set()
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            name = name.strip().lower()
            if name == "q":  # what follows q is accept-ext, not the media type's
                quality = _quality(value.strip())
                break
            if name:
                names.add(name)
        ranges.append(MediaRange(media_type.lower(), frozenset(names), quality))
    return ranges


def _quality(value: str) -> float:
    # as werkzeug reads one: a q that is not a number does not refuse the range
    try:
        quality = float(value)
    except ValueError:
        return 1.0
    return min(max(quality, 0.0), 1.0) if math.isfinite(quality) else 1.0


def _is_exposition(media_range: MediaRange) -> bool:
    # A bare text/plain is any text (a person's browser, a shell tool); the Prometheus text
    # format is asked for with its version parameter, as every Prometheus sends it.
    return media_range.media_type == OPENMETRICS or (
        media_range.media_type == TEXT and "version" in media_range.parameters)


def _json_quality(ranges: list[MediaRange]) -> float:
    for wanted in _JSON_RANGES:
        qualities = [r.quality for r in ranges if r.media_type == wanted]
        if qualities:
            return max(qualities)
    return 0.0


def wants_exposition(accept: str) -> bool:
    """The exposition rather than JSON: the header names the Prometheus text format or
    OpenMetrics at a higher q than it gives JSON (a tie is JSON, the seed's answer). `*/*`
    alone, a browser's header or none at all: JSON."""
    ranges = media_ranges(accept)
    exposition_q = max((r.quality for r in ranges if _is_exposition(r)), default=0.0)
    return exposition_q > _json_quality(ranges)


def wants_openmetrics(accept: str) -> bool:
    """OpenMetrics when the header gives it a q above 0 and no lower than the text format's
    (Prometheus lists it first); otherwise the text format, which every scraper reads."""
    ranges = media_ranges(accept)
    openmetrics_q = max((r.quality for r in ranges if r.media_type == OPENMETRICS), default=0.0)
    text_q = max((r.quality for r in ranges if r.media_type == TEXT), default=0.0)
    return openmetrics_q > 0.0 and openmetrics_q >= text_q
