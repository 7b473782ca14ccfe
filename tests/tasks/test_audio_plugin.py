"""The audio example plugin (examples/polyad-audio, installed by `make dev`) through the HTTP
API on both task backends: found through the entry points, in the OpenAPI document, a WAV's
figures right for a sine of known level, 8-bit stereo and 24-bit read alike, silence without
a decibel, and what is not a WAV a failed task with the reason."""

from __future__ import annotations

import base64
import io
import math
import wave
from typing import Any

import pytest

from tests.conftest import AppClient
from tests.tasks.test_plugins import finished


def wav(*, seconds: float, rate: int = 8000, channels: int = 1, width: int = 2,
        amplitude: float = 0.5, frequency: float = 440.0) -> str:
    """A sine of `amplitude` (fraction of full scale) as a PCM WAV, base64."""
    full = {1: 127, 2: 32767, 3: 8388607, 4: 2147483647}[width]
    frames = bytearray()
    for index in range(round(seconds * rate)):
        value = round(amplitude * full * math.sin(2 * math.pi * frequency * index / rate))
        encoded = (value + 128).to_bytes(1, "little") if width == 1 else \
            value.to_bytes(width, "little", signed=True)
        frames += encoded * channels
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as sound:
        sound.setnchannels(channels)
        sound.setsampwidth(width)
        sound.setframerate(rate)
        sound.writeframes(bytes(frames))
    return base64.b64encode(buffer.getvalue()).decode()


async def stats(client: AppClient, encoded: str) -> dict[str, Any]:
    response = await client.post("/task", json={"type": "audio", "action": "stats",
                                                "data": {"wav_base64": encoded}})
    assert response.status == 202, await response.text()
    return await finished(client, (await response.json())["task_id"])


async def test_a_sine_of_half_scale_is_measured_as_one(client: AppClient) -> None:
    document = await (await client.get("/openapi.json")).json()
    assert "TaskData_audio_stats" in document["components"]["schemas"]
    done = await stats(client, wav(seconds=0.25))
    assert done["status"] == "succeeded", done
    result = done["result"]
    assert (result["duration_seconds"], result["sample_rate"], result["channels"],
            result["sample_width_bits"], result["frames"]) == (0.25, 8000, 1, 16, 2000)
    assert result["peak"] == pytest.approx(0.5, abs=0.001)
    assert result["rms"] == pytest.approx(0.5 / math.sqrt(2), abs=0.002)
    assert result["peak_dbfs"] == pytest.approx(-6.02, abs=0.02)
    assert result["rms_dbfs"] == pytest.approx(-9.03, abs=0.05)


@pytest.mark.parametrize(("channels", "width"), [(2, 1), (1, 3), (2, 4)])
async def test_other_widths_and_channels_read_alike(client: AppClient, channels: int,
                                                    width: int) -> None:
    done = await stats(client, wav(seconds=0.1, channels=channels, width=width,
                                   amplitude=0.25))
    result = done["result"]
    assert (result["channels"], result["sample_width_bits"]) == (channels, width * 8)
    assert result["peak"] == pytest.approx(0.25, abs=0.01)   # 8-bit is coarse


async def test_silence_has_no_decibels_and_a_non_wav_fails_with_the_reason(
    client: AppClient,
) -> None:
    silent = (await stats(client, wav(seconds=0.05, amplitude=0.0)))["result"]
    assert (silent["peak"], silent["peak_dbfs"], silent["rms_dbfs"]) == (0.0, None, None)
    done = await stats(client, base64.b64encode(b"RIFF but not a wave at all").decode())
    assert done["status"] == "failed"
    assert done["error"]["type"] == "ValueError"
    assert "not a readable PCM WAV" in done["error"]["message"]


async def test_a_file_cut_short_is_measured_for_what_it_holds(client: AppClient) -> None:
    whole = base64.b64decode(wav(seconds=0.1))            # 800 frames of 2 bytes, after 44
    cut = base64.b64encode(whole[:44 + 2 * 300 + 1]).decode()   # 300 frames and a half
    result = (await stats(client, cut))["result"]
    assert (result["frames"], result["duration_seconds"]) == (300, 0.0375)
