"""Fuzz the audio decoder: random bytes, forged WAV headers and mutated real WAV/WebM/MP3/Ogg/FLAC
files either decode within the limits or raise an ``AudioError`` subclass, never another
exception, never more samples than the duration limit allows, never a crash.

Inputs that once broke the decoder are kept as ``@example`` cases. ``AUDIO_FUZZ_EXAMPLES=5000``
fuzzes deeper (default 120 examples per test, a few seconds each).
"""

from __future__ import annotations

import functools
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from company.speech.audio import SAMPLE_RATE, AudioError, AudioLimits, decode_audio
from tests.hostile_audio import one_hertz_wav, raw_wav
from tests.speech_fixtures import encode_audio, make_clip

pytestmark = pytest.mark.speech

LIMITS = AudioLimits(max_seconds=3.0, max_bytes=256 * 1024)
MAX_SAMPLES = int(LIMITS.max_seconds * SAMPLE_RATE)
FUZZ = settings(max_examples=int(os.environ.get("AUDIO_FUZZ_EXAMPLES", "120")), deadline=3000,
                suppress_health_check=[HealthCheck.too_slow])
FORMATS = ("wav", "webm", "mp3", "ogg", "flac")
_WAV = {"bits": 8, "channels": 1, "block_align": None, "cut": None, "tag": 1, "fill": 37}
FOUND = {  # forged WAV headers that broke the decoder, kept as regression cases
    "H1: 1 Hz, 16,384-sample packets: 6.7 GB":
        {**_WAV, "rate": 1, "block_align": 16_384, "n_bytes": 32_768},
    "8 channels: PyAV read past the planes (segfault)":
        {**_WAV, "rate": 16_000, "channels": 8, "n_bytes": 16_384},
    "40 channels: the same": {**_WAV, "rate": 16_000, "channels": 40, "n_bytes": 16_384},
    "2 kHz, 32.8 s frames": {**_WAV, "rate": 2_000, "block_align": 65_535, "n_bytes": 131_070},
    "0 bits: no decoder, codec context None": {**_WAV, "rate": 16_000, "bits": 0, "n_bytes": 100},
}


@functools.cache
def valid_file(fmt: str) -> bytes:
    """A valid 1.5 s clip encoded as ``fmt``."""
    return encode_audio(make_clip(1.5, seed=11), fmt)


def check(data: bytes) -> None:
    """Decode ``data``: a bounded 1-D float32 result with finite samples, or an AudioError."""
    try:
        samples = decode_audio(data, limits=LIMITS, name="fuzz.bin")
    except AudioError as exc:
        assert "fuzz.bin" in str(exc) or not data
        return
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert 0 < samples.size <= MAX_SAMPLES
    assert np.isfinite(samples).all()


@FUZZ
@given(st.binary(max_size=4096))
@example(b"RIFF")
@example(b"ID3" + bytes(64))
@example(b"\x1a\x45\xdf\xa3" + bytes(200))
def test_random_bytes(data: bytes) -> None:
    check(data)


@FUZZ
@given(
    rate=st.one_of(st.sampled_from([0, 1, 100, 1_999, 2_000, 8_000, 44_100, 384_000, 384_001]),
                   st.integers(0, 2**32 - 1)),
    channels=st.one_of(st.integers(0, 70), st.sampled_from([255, 65_535])),
    bits=st.sampled_from([0, 1, 8, 12, 16, 24, 32, 64, 65_535]),
    block_align=st.one_of(st.none(), st.integers(0, 65_535)),
    n_bytes=st.integers(0, 20_000),
    cut=st.one_of(st.none(), st.integers(0, 20_100)),
    tag=st.sampled_from([1, 1, 1, 3, 6, 7, 0x11, 0x55, 0xFFFE, 0]),
    fill=st.sampled_from([37, 255, 1]),
)
@example(**FOUND["H1: 1 Hz, 16,384-sample packets: 6.7 GB"])
@example(**FOUND["8 channels: PyAV read past the planes (segfault)"])
@example(**FOUND["40 channels: the same"])
@example(**FOUND["2 kHz, 32.8 s frames"])
@example(**FOUND["0 bits: no decoder, codec context None"])
def test_forged_wav_headers(rate: int, channels: int, bits: int, block_align: int | None,
                            n_bytes: int, cut: int | None, tag: int, fill: int) -> None:
    data = raw_wav(rate, n_bytes, bits=bits, channels=channels, block_align=block_align,
                   tag=tag, fill=fill)
    check(data[:cut] if cut is not None else data)


@FUZZ
@given(
    fmt=st.sampled_from(FORMATS),
    edits=st.lists(st.tuples(st.integers(0, 511), st.integers(0, 255)), max_size=8),
    cut=st.one_of(st.none(), st.floats(0.0, 1.0)),
)
def test_mutated_real_files(fmt: str, edits: list[tuple[int, int]], cut: float | None) -> None:
    """Byte edits in the headers (first 512 bytes) of real files, then maybe a truncation."""
    data = bytearray(valid_file(fmt))
    for offset, value in edits:
        if offset < len(data):
            data[offset] = value
    if cut is not None:
        data = data[: int(len(data) * cut)]
    check(bytes(data))


@FUZZ
@given(
    fmt=st.sampled_from(FORMATS),
    start=st.floats(0.0, 1.0),
    length=st.integers(1, 4096),
    seed=st.integers(0, 2**32 - 1),
)
def test_damaged_bodies(fmt: str, start: float, length: int, seed: int) -> None:
    """A run of random bytes anywhere in a real file."""
    data = bytearray(valid_file(fmt))
    at = int(len(data) * start)
    data[at : at + length] = np.random.default_rng(seed).bytes(length)[: len(data) - at]
    check(bytes(data))


@pytest.mark.parametrize("fmt", FORMATS)
def test_valid_files_still_decode(fmt: str) -> None:
    samples = decode_audio(valid_file(fmt), limits=LIMITS)
    assert abs(samples.size - 1.5 * SAMPLE_RATE) < 0.15 * SAMPLE_RATE


def test_the_reported_file_is_refused() -> None:
    with pytest.raises(AudioError, match="1 Hz"):
        decode_audio(one_hertz_wav(), limits=LIMITS)
