"""audio.stats: duration, sample rate, channels, and the peak and RMS level of a WAV (PCM, 8 to
32 bits) sent as base64, with the standard library only.

Decoding and the level are CPU work, so they run in an executor: a handler must never block the
agent's event loop (its cancellation and timeout would stop working)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import math
import struct
import wave
from array import array
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from polyad.tasks.registry import Handler, TaskContext

__all__ = ["handlers"]

# Bounded so that even a body of 4-byte characters stays under the agent's 1 MB max_body: a
# too-long value is then a 422 naming the field, not a 413 for the whole body.
MAX_BASE64 = 250_000


class StatsData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    wav_base64: str = Field(min_length=4, max_length=MAX_BASE64,
                            description="A PCM WAV file as base64 (about 180 KB at most)")


def _samples(frames: bytes, width: int) -> list[float]:
    """Every sample (all channels), as a fraction of full scale, -1 to 1."""
    if width == 1:                                   # 8-bit WAV is unsigned
        return [(value - 128) / 128 for value in frames]
    if width == 2:
        return [value / 32768 for value in array("h", frames)]
    if width == 4:
        return [value / 2147483648 for value in array("i", frames)]
    return [int.from_bytes(frames[index:index + 3], "little", signed=True) / 8388608
            for index in range(0, len(frames) - 2, 3)]


def _decibels(level: float) -> float | None:
    """dBFS, None for silence (minus infinity is not JSON)."""
    return round(20 * math.log10(level), 2) if level > 0 else None


def _stats(encoded: str) -> dict[str, Any]:
    try:
        raw = base64.b64decode(encoded, validate=True)
        with wave.open(io.BytesIO(raw)) as sound:
            channels, width = sound.getnchannels(), sound.getsampwidth()
            rate = sound.getframerate()
            read = sound.readframes(sound.getnframes())
    except (binascii.Error, wave.Error, EOFError, struct.error) as error:
        raise ValueError(f"not a readable PCM WAV: {error or 'it ends too soon'}") from None
    # a file cut short holds fewer frames than its header says: what is there is measured
    frames = len(read) // (width * channels)
    samples = _samples(read[:frames * width * channels], width)
    peak = max((abs(sample) for sample in samples), default=0.0)
    rms = math.sqrt(sum(sample * sample for sample in samples) / len(samples)) if samples else 0.0
    return {"duration_seconds": round(frames / rate, 6) if rate else 0.0,
            "sample_rate": rate, "channels": channels, "sample_width_bits": width * 8,
            "frames": frames, "peak": round(peak, 6), "rms": round(rms, 6),
            "peak_dbfs": _decibels(peak), "rms_dbfs": _decibels(rms)}


async def stats(context: TaskContext, data: StatsData) -> dict[str, Any]:
    context.report_progress(0.1)
    return await asyncio.get_running_loop().run_in_executor(None, _stats, data.wav_base64)


def handlers() -> list[Handler]:
    return [Handler("audio", "stats", StatsData, stats,
                    "Duration, sample rate, channels, peak and RMS level of a WAV",
                    estimate_s=0.05, timeout_s=30.0, cacheable=True, cache_ttl_s=300.0,
                    host_bound=False)]
