"""Audio decoding: every common format gives the same 16 kHz samples; bad input, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from company.speech.audio import (
    SAMPLE_RATE,
    AudioLimits,
    AudioNotFound,
    AudioTooLarge,
    AudioTooLong,
    CorruptAudio,
    EmptyAudio,
    NotAudio,
    SilentAudio,
    check_samples,
    decode_audio,
    frame_rms,
)
from tests.speech_fixtures import *  # noqa: F403
from tests.speech_fixtures import AUDIO_FORMATS, encode_audio, make_clip

LOSSLESS = {"wav", "flac"}
CLIP = make_clip(4.0, seed=7)


def _align(reference: np.ndarray, decoded: np.ndarray, max_lag: int = 4096) -> np.ndarray:
    """``decoded`` shifted by the lag (codec delay) that best matches ``reference``."""
    n = len(reference) + len(decoded)
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(decoded, size) * np.conj(np.fft.rfft(reference, size)), size)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    lag = int(lags[np.argmax(corr[lags])])
    if lag >= 0:
        shifted = decoded[lag:]
    else:
        shifted = np.concatenate([np.zeros(-lag, dtype=decoded.dtype), decoded])
    out = np.zeros_like(reference)
    m = min(len(reference), len(shifted))
    out[:m] = shifted[:m]
    return out


@pytest.fixture(scope="module")
def encoded() -> dict[str, bytes]:
    """The same clip encoded in every format."""
    return {fmt: encode_audio(CLIP, fmt) for fmt in AUDIO_FORMATS}


@pytest.mark.parametrize("fmt", sorted(AUDIO_FORMATS))
def test_every_format_decodes_to_the_same_samples(
    fmt: str, encoded: dict[str, bytes], tmp_path: Path
) -> None:
    path = tmp_path / f"clip.{fmt}"
    path.write_bytes(encoded[fmt])
    from_path = decode_audio(path)
    from_bytes = decode_audio(encoded[fmt])
    assert from_path.dtype == np.float32 and from_path.ndim == 1
    np.testing.assert_array_equal(from_path, from_bytes)
    # Lengths agree up to codec padding/priming (AAC adds 1024 samples of priming).
    assert abs(len(from_path) - len(CLIP)) <= 0.15 * SAMPLE_RATE
    aligned = _align(CLIP, from_path)
    if fmt in LOSSLESS:
        assert np.max(np.abs(aligned - CLIP)) < 1e-3  # 16-bit quantisation only
        return
    # Lossy codecs: same waveform shape and the same loudness over time.
    assert np.corrcoef(aligned, CLIP)[0, 1] > 0.9
    envelope_ref = frame_rms(CLIP, SAMPLE_RATE // 20)
    envelope = frame_rms(aligned, SAMPLE_RATE // 20)
    assert np.corrcoef(envelope, envelope_ref)[0, 1] > 0.98
    assert 0.8 < np.sqrt(np.mean(aligned**2)) / np.sqrt(np.mean(CLIP**2)) < 1.25


def test_stereo_44k_is_resampled_and_downmixed() -> None:
    clip_44k = make_clip(2.0, seed=3, rate=44_100)
    decoded = decode_audio(encode_audio(clip_44k, "wav", rate=44_100, channels=2))
    assert abs(len(decoded) - 2 * SAMPLE_RATE) <= 16
    reference = decode_audio(encode_audio(clip_44k, "wav", rate=44_100, channels=1))
    np.testing.assert_allclose(decoded, reference, atol=1e-3)


def test_text_file_is_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("Remember to buy milk.\nAnd call Anna about the report.\n" * 10)
    with pytest.raises(NotAudio) as info:
        decode_audio(path)
    assert str(path) in str(info.value) and "not an audio file" in str(info.value)
    assert info.value.source == str(path)


def test_file_without_audio_stream_is_not_audio() -> None:
    png = bytes.fromhex("89504e470d0a1a0a") + bytes(range(256)) * 4
    with pytest.raises(NotAudio, match="no audio stream"):
        decode_audio(png, name="photo.png")


def test_random_bytes_are_not_audio() -> None:
    with pytest.raises(NotAudio, match="unrecognised format"):
        decode_audio(np.random.default_rng(0).bytes(5000), name="blob.bin")


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "webm", "m4a", "mp3"])
def test_corrupt_audio(fmt: str, encoded: dict[str, bytes]) -> None:
    data = encoded[fmt]
    head = 12 if fmt != "mp3" else 3  # keep the format's signature, destroy the rest
    garbage = data[:head] + np.random.default_rng(1).bytes(len(data) - head)
    with pytest.raises(CorruptAudio) as info:
        decode_audio(garbage, name=f"upload.{fmt}")
    assert f"upload.{fmt}" in str(info.value)


@pytest.mark.parametrize("fmt", ["ogg", "webm", "m4a"])
def test_damaged_body_is_corrupt(fmt: str, encoded: dict[str, bytes]) -> None:
    """Half the body overwritten: detected from bad packets or from far less audio than declared.

    Best effort: decoders that resynchronise silently (FLAC, MP3) may return the intact parts.
    """
    data = bytearray(encoded[fmt])
    n = len(data)
    data[n // 4 : n // 4 + n // 2] = np.random.default_rng(2).bytes(n // 2)
    with pytest.raises(CorruptAudio, match="damaged"):
        decode_audio(bytes(data), name=f"voice.{fmt}")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.webm"
    path.write_bytes(b"")
    with pytest.raises(EmptyAudio, match="empty"):
        decode_audio(path)
    with pytest.raises(EmptyAudio):
        decode_audio(b"")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioNotFound, match="no such file"):
        decode_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioNotFound, match="not a regular file"):
        decode_audio(tmp_path)


def test_oversized_file_is_rejected_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 5000)  # not even audio: the size check comes first
    with pytest.raises(AudioTooLarge) as info:
        decode_audio(path, limits=AudioLimits(max_bytes=1000))
    assert str(path) in str(info.value) and "1000 bytes" in str(info.value)


def test_too_long_audio(encoded: dict[str, bytes]) -> None:
    with pytest.raises(AudioTooLong) as info:
        decode_audio(encoded["ogg"], limits=AudioLimits(max_seconds=2.5), name="long.ogg")
    assert "long.ogg" in str(info.value) and "2.5 s" in str(info.value)


def test_silent_audio() -> None:
    silence = np.zeros(3 * SAMPLE_RATE, dtype=np.float32)
    for fmt in ("wav", "mp3", "webm"):
        with pytest.raises(SilentAudio, match="silent"):
            decode_audio(encode_audio(silence, fmt), name=f"quiet.{fmt}")
    hiss = (np.random.default_rng(0).standard_normal(SAMPLE_RATE) * 1e-4).astype(np.float32)
    with pytest.raises(SilentAudio):
        check_samples(hiss)


def test_quiet_speech_is_not_silent() -> None:
    clip = make_clip(3.0, seed=1) * 0.02  # about -40 dBFS: quiet but audible
    assert check_samples(clip).size == clip.size


def test_check_samples_limits() -> None:
    with pytest.raises(EmptyAudio):
        check_samples(np.zeros(0, dtype=np.float32))
    with pytest.raises(AudioTooLong, match="limit of 1 s"):
        check_samples(make_clip(2.0), limits=AudioLimits(max_seconds=1))
    with pytest.raises(ValueError, match="1-D"):
        check_samples(np.zeros((2, 100), dtype=np.float32))
