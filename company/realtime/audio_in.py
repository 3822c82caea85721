"""Binary audio frames to 16 kHz mono PCM16: raw PCM16, or a WebM/Opus stream decoded as it
arrives (PyAV, on one thread per stream that reads from what the client has sent so far)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Protocol

import numpy as np

SAMPLE_RATE = 16_000
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
"""The first bytes of a WebM (Matroska) stream."""


class WrongAudioFormat(ValueError):
    """A frame that is not audio of the session's format."""


class AudioInput(Protocol):
    """Turns the client's binary frames into int16 samples at 16 kHz."""

    async def feed(self, data: bytes) -> np.ndarray:
        """Decode one frame; return the new samples (maybe none yet)."""
        ...

    def close(self) -> None:
        """Release what the decoder holds."""
        ...


class Pcm16Input:
    """Raw little-endian PCM16 mono at 16 kHz: every frame holds whole samples."""

    async def feed(self, data: bytes) -> np.ndarray:
        """The frame's samples; odd lengths and WebM headers are refused."""
        if data.startswith(EBML_MAGIC):
            raise WrongAudioFormat("this frame is WebM, but the session expects PCM16: send "
                                   "session.update with audio_format 'webm' first")
        if len(data) % 2:
            raise WrongAudioFormat(f"a PCM16 frame holds whole 2-byte samples; got {len(data)} "
                                   "bytes")
        return np.frombuffer(data, dtype="<i2").astype(np.int16)

    def close(self) -> None:
        """Nothing to release."""


class _Pipe:
    """A file-like object PyAV reads from; ``read`` blocks until the client sends more."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._cond = threading.Condition()
        self._closed = False
        self.waiting = threading.Event()
        """Set while the reader has consumed everything and waits for more."""

    def push(self, data: bytes) -> None:
        """Add what the client sent; wake the reader."""
        with self._cond:
            self.waiting.clear()
            self._buffer += data
            self._cond.notify_all()

    def finish(self) -> None:
        """No more data: the reader gets end-of-file."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes, waiting until there are some (b"" at the end)."""
        with self._cond:
            while not self._buffer and not self._closed:
                self.waiting.set()
                self._cond.wait()
            take = len(self._buffer) if size is None or size < 0 else min(size, len(self._buffer))
            chunk = bytes(self._buffer[:take])
            del self._buffer[:take]
            return chunk


class WebmInput:
    """A WebM/Opus stream (MediaRecorder's chunks), decoded incrementally by PyAV on a thread.

    ``feed`` hands the thread a chunk and waits until the demuxer has used it up (it then waits
    for more), so what a frame holds is decoded before ``feed`` returns, and at most one frame
    is ever buffered.
    """

    def __init__(self, *, timeout_s: float = 10.0, max_undecoded_bytes: int = 64 * 1024) -> None:
        self.timeout_s = timeout_s
        self.max_undecoded_bytes = max_undecoded_bytes
        self._undecoded = 0
        self._pipe = _Pipe()
        self._out: list[np.ndarray] = []
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._started = False
        self._thread = threading.Thread(target=self._run, name="webm-decoder", daemon=True)

    async def feed(self, data: bytes) -> np.ndarray:
        """Decode a chunk of the stream; raises ``WrongAudioFormat`` when it is not WebM audio."""
        if not self._started:
            if not data.startswith(EBML_MAGIC):
                raise WrongAudioFormat("the session expects WebM (audio_format 'webm'), and a "
                                       "WebM stream starts with its EBML header")
            self._started = True
            self._thread.start()
        self._pipe.push(data)
        await asyncio.to_thread(self._settle)
        with self._lock:
            error, self._error = self._error, None
            out, self._out = self._out, []
        if error is not None:
            raise WrongAudioFormat(f"could not decode the WebM stream: {error}") from error
        if not out:
            self._undecoded += len(data)
            if self._undecoded > self.max_undecoded_bytes:
                raise WrongAudioFormat(f"{self._undecoded} bytes of 'WebM' gave no audio")
            return np.zeros(0, np.int16)
        self._undecoded = 0
        return np.concatenate(out)

    def _settle(self) -> None:
        """Wait until the decoder needs more data (or has stopped)."""
        waiting, done = self._pipe.waiting, self._done
        step = 0.01
        waited = 0.0
        while not waiting.is_set() and not done.is_set() and waited < self.timeout_s:
            waiting.wait(step)
            waited += step

    def _run(self) -> None:
        import av

        try:
            with av.open(self._pipe, mode="r", format="webm", buffer_size=4096) as container:
                stream = next(s for s in container.streams if s.type == "audio")
                resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
                for frame in container.decode(stream):
                    self._emit(resampler.resample(frame))
                self._emit(resampler.resample(None))
        except StopIteration:
            self._fail(WrongAudioFormat("the WebM stream has no audio track"))
        except Exception as exc:  # PyAV raises its own errors for bad data
            self._fail(exc)
        finally:
            self._done.set()

    def _emit(self, frames: list[Any]) -> None:
        arrays = [f.to_ndarray().reshape(-1).astype(np.int16) for f in frames]
        if arrays:
            with self._lock:
                self._out.extend(arrays)

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            self._error = exc

    def close(self) -> None:
        """End the stream; the thread stops."""
        self._pipe.finish()
        if self._started:
            self._thread.join(2.0)


def make_input(audio_format: str) -> AudioInput:
    """The decoder for a session's ``audio_format``."""
    if audio_format == "webm":
        return WebmInput()
    return Pcm16Input()


def to_float(samples: np.ndarray) -> np.ndarray:
    """int16 samples as float32 in [-1, 1)."""
    return samples.astype(np.float32) / 32768.0
