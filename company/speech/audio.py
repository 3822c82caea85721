"""Decode any common audio file (path or bytes) to 16 kHz mono float32 samples with PyAV,
whole (``decode_audio``) or incrementally (``open_audio``)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
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
    "AudioStream",
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
    "open_audio",
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
_EXACT_FORMATS = ("wav", "flac", "ogg", "matroska", "webm", "mov", "mp4", "aiff")
_MAX_BAD_PACKET_RATIO = 0.2
_MIN_DECODED_RATIO = 0.5
_LOUDNESS_FRAME = SAMPLE_RATE // 20  # 50 ms: the silence check's frame


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
    with open_audio(source, limits=limits, name=name) as stream:
        chunks = list(stream)
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)


def open_audio(
    source: AudioSource, *, limits: AudioLimits | None = None, name: str | None = None
) -> AudioStream:
    """Open ``source`` for incremental decoding (iterate the result for 16 kHz mono chunks).

    The size, the container, its first audio stream and the stream's rate and channels are
    checked here. Use it as a context manager, or call ``close()``.
    """
    limits = limits or AudioLimits()
    label, payload, head = _read_source(source, name, limits)
    container = _open_container(payload, head, label)
    try:
        return AudioStream(container, label, limits)
    except BaseException:
        container.close()
        raise


class AudioStream:
    """An opened audio file decoded frame by frame into 16 kHz mono float32 chunks.

    Iterating runs every check of ``decode_audio`` as the data arrives (packet and frame sizes,
    rates, channels, running duration, NaN samples); the checks that need the whole file
    (undecodable packets, truncation, emptiness, silence) run when the end is reached, so a
    completed iteration means the file is as good as ``decode_audio`` would have found it.
    Memory: one decoded frame at a time, whatever the duration.
    """

    def __init__(self, container: av.container.InputContainer, label: str, limits: AudioLimits):
        """Wrap an opened container (refuses one without audio, or with an absurd format)."""
        self.label = label
        self.limits = limits
        self._container = container
        self._started = False
        self.decoded_samples = 0
        """16 kHz samples produced so far."""
        if not container.streams.audio:
            kind = container.format.name
            raise NotAudio(
                f"{label}: not an audio file (format '{kind}' has no audio stream)", source=label
            )
        codec = container.streams.audio[0].codec_context
        if codec is not None:  # an absurd rate or channel count is named before any duration
            _Guard(label, limits).check_format(codec.sample_rate, codec.channels)
        self.declared_seconds = _declared_seconds(container)
        """The duration the container declares (an estimate for mp3/aac), or None."""

    @property
    def declared_over_limit(self) -> bool:
        """Whether the declared duration is over ``limits.max_seconds`` (by more than 1 s).

        Headers can lie (a damaged file may declare days), so this is not an error: the running
        count refuses a clip that really is too long. A streaming consumer can hold its work
        back until the end for such a file instead of spending model time on it.
        """
        declared = self.declared_seconds
        return declared is not None and declared > self.limits.max_seconds + 1.0

    def __iter__(self) -> Iterator[np.ndarray]:
        """The decoded chunks in order (once: a stream cannot be rewound)."""
        if self._started:
            raise RuntimeError(f"{self.label}: the audio stream was already read")
        self._started = True
        return self._chunks()

    def close(self) -> None:
        """Close the container (and the file it reads)."""
        self._container.close()

    def __enter__(self) -> AudioStream:
        """The stream itself."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the container."""
        self.close()

    def _chunks(self) -> Iterator[np.ndarray]:
        """Decode packet by packet; see ``_decode_stream`` for the per-packet checks."""
        loudness = _Loudness()
        for chunk in _decode_stream(self._container, self.label, self.limits):
            if not np.isfinite(chunk.sum(dtype=np.float64)):  # float64: no overflow
                raise CorruptAudio(
                    f"{self.label}: the audio contains invalid samples (NaN or infinite)",
                    source=self.label,
                )
            loudness.add(chunk)
            self.decoded_samples += chunk.size
            yield chunk
        if self.decoded_samples == 0:
            raise EmptyAudio(f"{self.label}: the file contains no audio samples", source=self.label)
        loudest = loudness.finish()
        if loudest < self.limits.silence_rms:
            raise _silent(self.label, loudest, self.limits)


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
    loudest = float(frame_rms(samples, _LOUDNESS_FRAME).max())
    if loudest < limits.silence_rms:
        raise _silent(name, loudest, limits)
    return samples


def _silent(name: str, loudest: float, limits: AudioLimits) -> SilentAudio:
    """The error for audio whose loudest 50 ms frame is under the threshold."""
    return SilentAudio(
        f"{name}: the audio is silent (loudest 50 ms has RMS {loudest:.2e}, "
        f"below the threshold {limits.silence_rms:.0e})",
        source=name,
    )


class _Loudness:
    """The loudest 50 ms frame of a stream, the frames aligned as ``frame_rms`` aligns them on
    the whole clip (so the verdict equals ``check_samples``')."""

    def __init__(self) -> None:
        self.loudest = 0.0
        self._rest = np.zeros(0, dtype=np.float32)

    def add(self, chunk: np.ndarray) -> None:
        """Measure the whole frames of the samples so far; keep the partial one."""
        data = np.concatenate([self._rest, chunk]) if self._rest.size else chunk
        whole = data.size - data.size % _LOUDNESS_FRAME
        if whole:
            self.loudest = max(self.loudest, float(frame_rms(data[:whole], _LOUDNESS_FRAME).max()))
        self._rest = data[whole:].copy()

    def finish(self) -> float:
        """The loudest frame RMS, the last (partial) frame included."""
        if self._rest.size:
            self.loudest = max(self.loudest, float(frame_rms(self._rest, _LOUDNESS_FRAME).max()))
            self._rest = self._rest[:0]
        return self.loudest


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


def _open_container(
    payload: str | io.BytesIO, head: bytes, label: str
) -> av.container.InputContainer:
    """Open the container (an unreadable one is classified as corrupt, text or unknown)."""
    import av

    try:
        return av.open(payload, mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError) as exc:
        raise _open_failure(head, label, exc) from exc


def _decode_stream(
    container: av.container.InputContainer, label: str, limits: AudioLimits
) -> Iterator[np.ndarray]:
    """Demux and decode packet by packet, tolerating a few bad packets, stopping at the limit.

    Every packet and frame is checked before it costs memory: a packet's size before decoding,
    a frame's rate, channels and duration (and the running duration) before resampling.
    Yields mono float32 chunks; the bad-packet ratio and the declared duration are checked at
    the end.
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
                yield from output.take(resampler.resample(frame))
        yield from output.take(resampler.resample(None))
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
    """Turns resampled frames into mono chunks, counted against the duration limit."""

    def __init__(self, label: str, limits: AudioLimits) -> None:
        self.label = label
        self.limits = limits
        self.max_samples = int(limits.max_seconds * SAMPLE_RATE)
        self.total = 0

    def take(self, frames: list[av.AudioFrame]) -> Iterator[np.ndarray]:
        """Downmix packed float frames to mono and yield them (AudioTooLong past the limit)."""
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
            if chunk.size:
                yield chunk


def _too_long(label: str, limits: AudioLimits) -> AudioTooLong:
    return AudioTooLong(
        f"{label}: the audio is longer than the limit of {limits.max_seconds:g} s", source=label
    )


def _declared_seconds(container: av.container.InputContainer) -> float | None:
    """The duration the container declares, seconds (None when it declares none)."""
    if container.duration is None or container.duration <= 0:
        return None
    return container.duration / 1_000_000  # av.time_base is microseconds


def _check_declared_duration(
    container: av.container.InputContainer, decoded_samples: int, label: str
) -> None:
    """Fail when far less audio decoded than the container declares (truncated or damaged)."""
    declared = _declared_seconds(container)
    if declared is None or not any(name in container.format.name for name in _EXACT_FORMATS):
        return
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
