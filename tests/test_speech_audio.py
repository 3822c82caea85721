"""Audio decoding: every common format gives the same 16 kHz samples; bad input, clear errors;
hostile headers (absurd sample rates, huge frames) are refused before they cost memory."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import tracemalloc
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
    UnsupportedAudio,
    check_samples,
    decode_audio,
    frame_rms,
)
from tests.hostile_audio import one_hertz_wav, raw_wav
from tests.speech_fixtures import *  # noqa: F403
from tests.speech_fixtures import AUDIO_FORMATS, encode_audio, make_clip

pytestmark = pytest.mark.speech

REPO = Path(__file__).resolve().parent.parent

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


# ---- hostile headers (issue 10, H1) -----------------------------------------------------------

# Decodes a file in a fresh process under a 2 GB address-space cap and prints what it cost.
_PEAK_PROBE = """
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from company.speech.audio import AudioLimits, decode_audio
from company.speech.errors import AudioError
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    decode_audio(data, limits=AudioLimits(max_seconds=600), name="hostile.wav")
    outcome = "decoded"
except AudioError as exc:
    outcome = f"{type(exc).__name__}: {exc}"
elapsed = time.perf_counter() - start
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(json.dumps({"outcome": outcome, "seconds": elapsed, "grown_mib": grown}))
"""


@pytest.mark.subprocess
def test_one_hertz_wav_is_refused_fast_in_little_memory(tmp_path: Path) -> None:
    """The report's 32 KB file took 6.7 GB and 12.9 s; now: refused at once, a few MiB."""
    path = tmp_path / "hostile.wav"
    path.write_bytes(one_hertz_wav())
    run = subprocess.run([sys.executable, "-c", _PEAK_PROBE, str(path)], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    probe = json.loads(run.stdout.strip().splitlines()[-1])
    assert probe["outcome"].startswith("UnsupportedAudio"), probe
    assert "1 Hz" in probe["outcome"] and "hostile.wav" in probe["outcome"]
    assert probe["seconds"] < 1.0, probe
    assert probe["grown_mib"] < 50, probe


@pytest.mark.parametrize("rate", [1, 100, 1_999, 384_001, 4_000_000])
def test_absurd_sample_rates_are_refused_by_name(rate: int) -> None:
    started = time.perf_counter()
    with pytest.raises(UnsupportedAudio) as info:
        decode_audio(raw_wav(rate, 4096), name="odd.wav")
    message = str(info.value)
    assert f"{rate} Hz" in message and "odd.wav" in message
    assert "2000" in message and "384000" in message  # says what is accepted
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("rate", [2_000, 384_000])
def test_the_edges_of_the_rate_range_decode(rate: int) -> None:
    samples = decode_audio(raw_wav(rate, rate // 2), name="edge.wav")  # half a second
    assert abs(samples.size - SAMPLE_RATE // 2) <= 64


def test_rate_limits_are_settings() -> None:
    limits = AudioLimits(min_sample_rate=8_000, max_sample_rate=48_000)
    with pytest.raises(UnsupportedAudio, match="4000 Hz"):
        decode_audio(raw_wav(4_000, 4096), limits=limits)
    with pytest.raises(ValueError, match="min_sample_rate"):
        AudioLimits(min_sample_rate=48_000, max_sample_rate=8_000)


def test_a_huge_frame_is_refused_before_resampling() -> None:
    """2 kHz is a valid rate, but a 65,535-byte block makes every frame last 32.8 s."""
    data = raw_wav(2_000, 2 * 65_535, block_align=65_535)
    with pytest.raises(UnsupportedAudio) as info:
        decode_audio(data, name="blocks.wav")
    assert "blocks.wav" in str(info.value) and "32.8 s" in str(info.value)
    assert "frame" in str(info.value)


def test_too_many_channels_are_refused() -> None:
    with pytest.raises(UnsupportedAudio, match="40 channels"):
        decode_audio(raw_wav(16_000, 40 * 2048, channels=40), name="many.wav")


def test_a_huge_packet_is_refused_before_decoding() -> None:
    data = raw_wav(16_000, 3 * 4096, block_align=4096)
    with pytest.raises(UnsupportedAudio, match="4096 bytes"):
        decode_audio(data, limits=AudioLimits(max_packet_bytes=1000), name="big-packets.wav")


def test_duration_limit_is_checked_before_resampling() -> None:
    """Frames of 8.2 s against a 1 s limit: refused before the first one is resampled, so the
    decoder never holds more than the limit (the old code resampled a whole frame first)."""
    data = raw_wav(8_000, 4 * 65_535, block_align=65_535)
    tracemalloc.start()
    try:
        with pytest.raises(AudioTooLong, match="limit of 1 s"):
            decode_audio(data, limits=AudioLimits(max_seconds=1), name="long-frames.wav")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < SAMPLE_RATE * 4 * 2, f"peak {peak} bytes"  # less than 2 s of float32


def test_decoded_audio_never_exceeds_the_limit_by_more_than_a_frame() -> None:
    """Many small frames: decoding stops as soon as the running total passes the limit."""
    data = raw_wav(16_000, 20 * 16_000)  # 20 s of 8-bit mono
    tracemalloc.start()
    try:
        with pytest.raises(AudioTooLong):
            decode_audio(data, limits=AudioLimits(max_seconds=2), name="twenty.wav")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < SAMPLE_RATE * 4 * 3, f"peak {peak} bytes"  # 2 s of float32 plus a frame


def test_transcribe_cli_reaches_the_fixed_decoder(tmp_path: Path) -> None:
    """``startup.py transcribe`` decodes before it needs a model: the hostile file fails alone,
    fast, with its name and rate, and the exit code of bad audio."""
    from company.speech.cli import EXIT_BAD_AUDIO, transcribe_command
    from company.speech.service import close_services
    from company.speech.settings import WhisperSettings

    path = tmp_path / "hostile.wav"
    path.write_bytes(one_hertz_wav())
    settings = WhisperSettings(model=str(tmp_path / "absent.pt"), device="cpu")
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    try:
        code = transcribe_command([str(path)], settings=settings, as_json=False, out=out,
                                  err=err)
    finally:
        close_services()
    assert time.perf_counter() - started < 5
    assert code == EXIT_BAD_AUDIO, err.getvalue()
    assert str(path) in err.getvalue() and "1 Hz" in err.getvalue()


def _float_wav(values: np.ndarray) -> bytes:
    """A 16 kHz IEEE-float WAV holding exactly ``values``."""
    data = np.asarray(values, dtype="<f4").tobytes()
    head = raw_wav(16_000, 0, bits=32, tag=3)
    return head[:4] + (36 + len(data)).to_bytes(4, "little") + head[8:40] + \
        len(data).to_bytes(4, "little") + data


def test_nan_samples_are_refused() -> None:
    """A float WAV full of NaN decoded 'fine' and would have reached Whisper."""
    values = np.full(SAMPLE_RATE, np.nan, dtype=np.float32)
    values[::2] = 0.5
    with pytest.raises(CorruptAudio, match="NaN"):
        decode_audio(_float_wav(values), name="nan.wav")
    with pytest.raises(CorruptAudio, match="NaN"):
        check_samples(values, name="nan")


def test_absurd_float_samples_are_clipped() -> None:
    values = np.full(SAMPLE_RATE, 1e30, dtype=np.float32)
    values[::3] = -1e30
    samples = decode_audio(_float_wav(values), name="loud.wav")
    assert samples.max() == 1.0 and samples.min() == -1.0
