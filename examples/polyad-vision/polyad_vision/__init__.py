"""vision.stats: size, mode and per-band mean/min/max of an image sent as base64.

The decoding and statistics are CPU work, so they run in an executor: a handler must never
block the agent's event loop (its cancellation and timeout would stop working)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
from typing import Any

from PIL import Image, ImageStat, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field

from polyad.tasks.registry import Handler, TaskContext

__all__ = ["handlers"]

MAX_PIXELS = 25_000_000  # refuse decompression bombs before decoding them


class StatsData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    # Bounded so that even a body of 4-byte characters stays under the agent's 1 MB max_body:
    # a too-long value is then a 422 naming the field, not a 413 for the whole body.
    image_base64: str = Field(min_length=4, max_length=250_000,
                              description="PNG, JPEG, … as base64 (about 180 KB at most)")


def _stats(encoded: str) -> dict[str, Any]:
    try:
        raw = base64.b64decode(encoded, validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ValueError(f"{image.width}x{image.height} is more than {MAX_PIXELS} pixels")
            image.load()
            stat = ImageStat.Stat(image)
            return {"format": image.format, "mode": image.mode, "width": image.width,
                    "height": image.height, "bands": list(image.getbands()),
                    "mean": [round(value, 3) for value in stat.mean],
                    "min": [low for low, _ in stat.extrema],
                    "max": [high for _, high in stat.extrema]}
    except (binascii.Error, UnidentifiedImageError) as error:
        raise ValueError(f"not a readable image: {error}") from None


async def stats(context: TaskContext, data: StatsData) -> dict[str, Any]:
    context.report_progress(0.1)
    return await asyncio.get_running_loop().run_in_executor(None, _stats, data.image_base64)


def handlers() -> list[Handler]:
    return [Handler("vision", "stats", StatsData, stats, "Image size, mode and band statistics",
                    estimate_s=0.05, timeout_s=30.0, cacheable=True, cache_ttl_s=300.0,
                    host_bound=False)]
