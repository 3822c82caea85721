"""Decode any common audio file (path or bytes) to 16 kHz mono float32 samples with PyAV."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from company.speech.errors import (
    AudioError,
    AudioNotFound,
    AudioTooLarge,
    AudioTooLong,
    CorruptAudio,
    EmptyAudio,
    NotAudio,
    SilentAudio,
    UnsupportedAudio,
)

if TYPE_CHECKING:
    import av.container

__all__ = [
    "SAMPLE_RATE",
    "AudioError",
    "AudioLimits",
    "AudioNotFound",
    "AudioSource",
    "AudioTooLarge",
    "AudioTooLong",
    "CorruptAudio",
    "EmptyAudio",
    "NotAudio",
    "SilentAudio",
    "UnsupportedAudio",
    "check_samples",
    "decode_audio",
    "frame_rms",
]

SAMPLE_RATE = 16_000
"""Whisper's sample rate: every decoded clip is resampled to it."""

AudioSource = str | os.PathLike[str] | bytes | bytearray | memoryview
"""What ``decode_audio`` accepts: a file path or the file's bytes."""

# Leading bytes of containers we decode; an unparsable file that starts like one is "corrupt".
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"RIFF", "WAV"),
    (0, b"ID3", "MP3"),
    (0, b"OggS", "Ogg"),
    (0, b"fLaC", "FLAC"),
    (0, b"\x1a\x45\xdf\xa3", "WebM/Matroska"),
    (4, b"ftyp", "MP4/M4A"),
    (0, b"FORM", "AIFF"),
    (0, b"#!AMR", "AMR"),
)
# Formats whose declared duration is exact (mp3/aac may only estimate it from the bitrate).
_EXACT_DURATION_FORMATS = ("wav", "flac", "ogg", "matroska", "webm", "mov", "mp4", "aiff")
_MAX_BAD_PACKET_RATIO = 0.2
_MIN_DECODED_RATIO = 0.5


class AudioLimits(BaseModel):
    """Limits checked while decoding: file size (before decoding), duration, silence, and the
    header fields a forged file could make absurd (sample rate, channels, packet/frame size)."""

    model_config = ConfigDict(frozen=True)

    max_bytes: int = Field(default=100 * 1024 * 1024, gt=0, description="largest input, bytes")
    max_seconds: float = Field(default=3600.0, gt=0, description="longest audio, seconds")
    silence_rms: float = Field(
        default=1e-3,
        ge=0,
        description="audio whose loudest 50 ms frame has RMS below this (-60 dBFS) is silent",
    )
    min_sample_rate: int = Field(default=2_000, gt=0, description="lowest input sample rate, Hz")
    max_sample_rate: int = Field(
        default=384_000, gt=0, description="highest input sample rate, Hz"
    )
    max_channels: int = Field(default=32, ge=1, le=64, description="most input channels")
    max_frame_seconds: float = Field(
        default=10.0, gt=0, description="longest decoded frame, seconds (real ones: < 1 s)"
    )
    max_packet_bytes: int = Field(
        default=2 * 1024 * 1024, gt=0, description="largest demuxed packet, bytes"
    )

    @model_validator(mode="after")
    def _check_rates(self) -> AudioLimits:
        """The rate range must not be empty."""
        if self.min_sample_rate > self.max_sample_rate:
            raise ValueError(
                f"min_sample_rate ({self.min_sample_rate}) is above max_sample_rate "
                f"({self.max_sample_rate})"
            )
        return self


def decode_audio(
    source: AudioSource, *, limits: AudioLimits | None = None, name: str | None = None
) -> np.ndarray:
    """Decode ``source`` to 16 kHz mono float32 samples, enforcing ``limits``.

    Raises a subclass of ``AudioError`` whose message names the file and the limit broken.
    """
    limits = limits or AudioLimits()
    label, payload, head = _read_source(source, name, limits)
    samples = _decode(payload, head, label, limits)
    return check_samples(samples, limits=limits, name=label)


def check_samples(
    samples: np.ndarray, *, limits: AudioLimits | None = None, name: str = "<samples>"
) -> np.ndarray:
    """Validate already-decoded 16 kHz mono samples (empty, too long, silent); return float32."""
    limits = limits or AudioLimits()
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"{name}: expected 1-D mono samples, got shape {samples.shape}")
    if samples.size == 0:
        raise EmptyAudio(f"{name}: the file contains no audio samples", source=name)
    if not np.isfinite(samples.sum(dtype=np.float64)):  # float64: finite float32s never overflow
        raise CorruptAudio(
            f"{name}: the audio contains invalid samples (NaN or infinite)", source=name
        )
    if samples.size > limits.max_seconds * SAMPLE_RATE:
        raise AudioTooLong(
            f"{name}: the audio lasts {samples.size / SAMPLE_RATE:.1f} s, longer than the limit "
            f"of {limits.max_seconds:g} s",
            source=name,
        )
    loudest = float(frame_rms(samples, SAMPLE_RATE // 20).max())
    if loudest < limits.silence_rms:
        raise SilentAudio(
            f"{name}: the audio is silent (loudest 50 ms has RMS {loudest:.2e}, "
            f"below the threshold {limits.silence_rms:.0e})",
            source=name,
        )
    return samples


def frame_rms(samples: np.ndarray, frame: int) -> np.ndarray:
    """RMS energy of consecutive non-overlapping frames of ``frame`` samples (last one partial).

    Works in place on the input (no padded copy), so an hour of audio costs no extra memory.
    """
    samples = np.asarray(samples)
    if samples.size == 0:
        return np.zeros(1, dtype=np.float64)
    n_full, rest = divmod(samples.size, frame)
    full = samples[: n_full * frame].reshape(n_full, frame)
    energy = np.einsum("ij,ij->i", full, full, dtype=np.float64) / frame
    if rest:
        tail = samples[n_full * frame :].astype(np.float64)
        energy = np.append(energy, np.dot(tail, tail) / rest)
    return np.sqrt(energy)


def _read_source(
    source: AudioSource, name: str | None, limits: AudioLimits
) -> tuple[str, str | io.BytesIO, bytes]:
    """Check existence, emptiness and size; return (label, what to open, first bytes)."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        label = name or "<bytes>"
        size = len(data)
        head = data[:64]
        payload: str | io.BytesIO = io.BytesIO(data)
    else:
        path = Path(source)
        label = name or str(path)
        if not path.exists():
            raise AudioNotFound(f"{label}: no such file", source=label)
        if not path.is_file():
            raise AudioNotFound(f"{label}: not a regular file", source=label)
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(64)
        payload = str(path)
    if size == 0:
        raise EmptyAudio(f"{label}: the file is empty (0 bytes)", source=label)
    if size > limits.max_bytes:
        raise AudioTooLarge(
            f"{label}: the file is {_mib(size)}, larger than the limit of {_mib(limits.max_bytes)}",
            source=label,
        )
    return label, payload, head


def _decode(payload: str | io.BytesIO, head: bytes, label: str, limits: AudioLimits) -> np.ndarray:
    """Open the container and decode its first audio stream, resampled to 16 kHz mono."""
    import av

    try:
        container = av.open(payload, mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError) as exc:
        raise _open_failure(head, label, exc) from exc
    with container:
        if not container.streams.audio:
            kind = container.format.name
            raise NotAudio(
                f"{label}: not an audio file (format '{kind}' has no audio stream)", source=label
            )
        return _decode_stream(container, label, limits)


def _decode_stream(
    container: av.container.InputContainer, label: str, limits: AudioLimits
) -> np.ndarray:
    """Demux and decode packet by packet, tolerating a few bad packets, stopping at the limit.

    Every packet and frame is checked before it costs memory: a packet's size before decoding,
    a frame's rate, channels and duration (and the running duration) before resampling.
    """
    import av

    stream = container.streams.audio[0]
    guard = _Guard(label, limits)
    codec = stream.codec_context  # None when no decoder opens: its packets count as bad
    if codec is not None:
        guard.check_format(codec.sample_rate, codec.channels)
    # Keep the channel layout and average the channels ourselves: swresample's float downmix
    # is not normalised (stereo L=R would come out 3 dB louder than either channel). Packed
    # "flt", not planar: PyAV reads past the plane array of planar frames with >= 8 channels.
    resampler = av.AudioResampler(format="flt", layout=None, rate=SAMPLE_RATE)
    output = _Output(label, limits)
    good = bad = 0
    try:
        for packet in container.demux(stream):
            guard.check_packet(packet.size)
            try:
                frames = packet.decode()
            except av.FFmpegError:
                bad += 1
                continue
            good += 1
            for frame in frames:
                guard.check_frame(frame.samples, frame.sample_rate, frame.layout.nb_channels)
                output.take(resampler.resample(frame))
        output.take(resampler.resample(None))
    except av.FFmpegError as exc:
        raise CorruptAudio(
            f"{label}: the audio data is damaged ({_reason(exc)})", source=label
        ) from exc
    except ValueError as exc:  # e.g. the stream changes layout/rate in a way swresample rejects
        raise CorruptAudio(f"{label}: the audio data is damaged ({exc})", source=label) from exc

    if bad and (good == 0 or bad / (good + bad) > _MAX_BAD_PACKET_RATIO):
        raise CorruptAudio(
            f"{label}: the audio data is damaged ({bad} of {good + bad} packets undecodable)",
            source=label,
        )
    _check_declared_duration(container, output.total, label)
    return output.samples()


class _Guard:
    """Refuses packets and frames a real recording never has, before they are resampled."""

    def __init__(self, label: str, limits: AudioLimits) -> None:
        self.label = label
        self.limits = limits
        self.seconds = 0.0  # input duration decoded so far

    def check_format(self, rate: int, channels: int) -> None:
        """The sample rate and channel count (0: not known yet, checked on each frame)."""
        lim = self.limits
        if rate and not lim.min_sample_rate <= rate <= lim.max_sample_rate:
            raise UnsupportedAudio(
                f"{self.label}: unsupported sample rate {rate} Hz (accepted: "
                f"{lim.min_sample_rate} to {lim.max_sample_rate} Hz); the header is probably "
                "damaged",
                source=self.label,
            )
        if channels > lim.max_channels:
            raise UnsupportedAudio(
                f"{self.label}: the audio has {channels} channels; at most "
                f"{lim.max_channels} are accepted",
                source=self.label,
            )

    def check_packet(self, size: int) -> None:
        """A demuxed packet, before it is decoded."""
        if size > self.limits.max_packet_bytes:
            raise UnsupportedAudio(
                f"{self.label}: a packet of {size} bytes is larger than the limit of "
                f"{self.limits.max_packet_bytes} bytes; the header is probably damaged",
                source=self.label,
            )

    def check_frame(self, samples: int, rate: int, channels: int) -> None:
        """A decoded frame, before it is resampled: format, duration, running duration."""
        if not rate:
            raise CorruptAudio(f"{self.label}: a frame has no sample rate", source=self.label)
        self.check_format(rate, channels)
        duration = samples / rate
        if duration > self.limits.max_frame_seconds:
            raise UnsupportedAudio(
                f"{self.label}: a decoded frame lasts {duration:.1f} s ({samples} samples at "
                f"{rate} Hz); frames longer than {self.limits.max_frame_seconds:g} s are refused "
                "(the header is probably damaged or forged)",
                source=self.label,
            )
        self.seconds += duration
        if self.seconds > self.limits.max_seconds:
            raise _too_long(self.label, self.limits)


class _Output:
    """The resampled mono chunks, counted against the duration limit as they arrive."""

    def __init__(self, label: str, limits: AudioLimits) -> None:
        self.label = label
        self.limits = limits
        self.max_samples = int(limits.max_seconds * SAMPLE_RATE)
        self.chunks: list[np.ndarray] = []
        self.total = 0

    def take(self, frames: list[av.AudioFrame]) -> None:
        """Downmix packed float frames to mono and keep them (AudioTooLong past the limit)."""
        for frame in frames:
            channels = frame.layout.nb_channels
            packed = frame.to_ndarray().reshape(-1)  # (1, samples * channels), interleaved
            if channels == 1:
                chunk = packed
            else:
                chunk = packed.reshape(-1, channels).mean(axis=1, dtype=np.float32)
            self.total += chunk.size
            if self.total > self.max_samples:
                raise _too_long(self.label, self.limits)
            chunk = chunk.astype(np.float32, copy=False)
            np.clip(chunk, -1.0, 1.0, out=chunk)  # float files may hold anything; NaN stays
            self.chunks.append(chunk)

    def samples(self) -> np.ndarray:
        """Everything decoded, as one float32 array."""
        if not self.chunks:
            return np.zeros(0, dtype=np.float32)
        return self.chunks[0] if len(self.chunks) == 1 else np.concatenate(self.chunks)


def _too_long(label: str, limits: AudioLimits) -> AudioTooLong:
    return AudioTooLong(
        f"{label}: the audio is longer than the limit of {limits.max_seconds:g} s", source=label
    )


def _check_declared_duration(
    container: av.container.InputContainer, decoded_samples: int, label: str
) -> None:
    """Fail when far less audio decoded than the container declares (truncated or damaged)."""
    fmt = container.format.name
    if container.duration is None or not any(name in fmt for name in _EXACT_DURATION_FORMATS):
        return
    declared = container.duration / 1_000_000  # av.time_base is microseconds
    decoded = decoded_samples / SAMPLE_RATE
    if declared >= 1.0 and decoded < _MIN_DECODED_RATIO * declared:
        raise CorruptAudio(
            f"{label}: the file is truncated or damaged (decoded {decoded:.1f} s of the "
            f"{declared:.1f} s it declares)",
            source=label,
        )


def _open_failure(head: bytes, label: str, exc: Exception) -> AudioError:
    """Classify a container that cannot be opened: damaged audio, text, or unknown data."""
    for offset, magic, kind in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return CorruptAudio(
                f"{label}: looks like {kind} audio but cannot be read ({_reason(exc)})",
                source=label,
            )
    if _looks_like_text(head):
        return NotAudio(f"{label}: not an audio file (it contains text)", source=label)
    return NotAudio(f"{label}: not an audio file (unrecognised format)", source=label)


def _looks_like_text(head: bytes) -> bool:
    """True when the first bytes decode as UTF-8 without control characters (besides spaces)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # The 64-byte cut may split a multi-byte character; retry without the last 3 bytes.
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return all(ch.isprintable() or ch in "\t\r\n\f" for ch in text)


def _reason(exc: Exception) -> str:
    """Short text of a PyAV error without its errno prefix."""
    strerror = getattr(exc, "strerror", None)
    return str(strerror or exc)


def _mib(n_bytes: int) -> str:
    """Bytes as a human-readable size."""
    if n_bytes < 1024 * 1024:
        return f"{n_bytes} bytes"
    return f"{n_bytes / (1024 * 1024):.1f} MiB"
