"""Shared fixtures and helpers of the speech tests: a random Whisper checkpoint, synthetic audio.

Test modules use them with ``from tests.speech_fixtures import *``; ``tests/conftest.py`` may do
the same to offer them to every test.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from company.speech import SAMPLE_RATE, WhisperService, WhisperSettings
from company.speech.testing import build_random_checkpoint, synthetic_clip

if TYPE_CHECKING:
    from whisper.model import Whisper

__all__ = [
    "AUDIO_FORMATS",
    "encode_audio",
    "make_clip",
    "reference_whisper_model",
    "speech_service",
    "speech_settings",
    "whisper_checkpoint",
]

# extension -> (container format, codec, encoder sample format, encoder rate or None = input rate)
AUDIO_FORMATS: dict[str, tuple[str, str, str, int | None]] = {
    "wav": ("wav", "pcm_s16le", "s16", None),
    "mp3": ("mp3", "libmp3lame", "fltp", None),
    "ogg": ("ogg", "libopus", "flt", 48_000),
    "webm": ("webm", "libopus", "flt", 48_000),
    "flac": ("flac", "flac", "s16", None),
    "m4a": ("ipod", "aac", "fltp", None),
}


def make_clip(seconds: float, *, seed: int = 0, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Speech-like test audio (tones, chirps, noise bursts, pauses); deterministic per seed."""
    return synthetic_clip(seconds, seed=seed, rate=rate)


def encode_audio(
    samples: np.ndarray, fmt: str, *, rate: int = SAMPLE_RATE, channels: int = 1
) -> bytes:
    """Encode mono float samples with PyAV into ``fmt`` (a key of ``AUDIO_FORMATS``)."""
    import av

    container_format, codec, sample_format, codec_rate = AUDIO_FORMATS[fmt]
    codec_rate = codec_rate or rate
    layout = "mono" if channels == 1 else "stereo"
    data = np.asarray(samples, dtype=np.float32)[None, :]
    if channels == 2:
        data = np.repeat(data, 2, axis=0).reshape(1, -1, order="F")  # packed L R L R
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=codec_rate)
        stream.layout = layout
        if codec not in ("pcm_s16le", "flac"):
            stream.bit_rate = 64_000  # voice-note quality; encoder defaults at 16 kHz are lower
        resampler = av.AudioResampler(format=sample_format, layout=layout, rate=codec_rate)
        frame = av.AudioFrame.from_ndarray(data, format="flt", layout=layout)
        frame.sample_rate = rate
        for converted in resampler.resample(frame) + resampler.resample(None):
            container.mux(stream.encode(converted))
        container.mux(stream.encode(None))
    return buffer.getvalue()


@pytest.fixture(scope="session")
def whisper_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weights tiny Whisper checkpoint (fixed seed) in Whisper's own format."""
    import torch

    torch.set_num_threads(1)
    return build_random_checkpoint(tmp_path_factory.mktemp("whisper") / "tiny-random.pt", "tiny")


@pytest.fixture(scope="session")
def speech_settings(whisper_checkpoint: Path) -> WhisperSettings:
    """Settings for the random checkpoint: CPU, one thread, 8 tokens per window, greedy."""
    return WhisperSettings(
        model=str(whisper_checkpoint),
        device="cpu",
        sample_len=8,
        temperature=0.0,
        batch_size=8,
        batch_wait_ms=30,
        threads=1,
    )


@pytest.fixture(scope="session")
def speech_service(speech_settings: WhisperSettings) -> Iterator[WhisperService]:
    """One service (one worker thread, one model) shared by the whole test session."""
    service = WhisperService(speech_settings)
    yield service
    service.close()


@pytest.fixture(scope="session")
def reference_whisper_model(whisper_checkpoint: Path) -> Whisper:
    """A second copy of the model, for one-by-one reference decoding on the test thread."""
    import whisper

    return whisper.load_model(str(whisper_checkpoint), device="cpu")
