"""The async Whisper service: decode audio, cut windows, batch-decode them on the model's worker.

One ``WhisperService`` per model per process (see ``get_service``); any number of coroutines, on
any number of event loops and threads, may await ``transcribe`` on it concurrently. Files are
streamed (``company.speech.streaming``): decoded, cut and transcribed a few windows at a time,
so an hour costs the memory of a minute.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from company.speech.audio import SAMPLE_RATE, AudioSource, check_samples, decode_audio
from company.speech.results import (
    Segment,
    Transcription,
    WindowResult,
    Word,
    join_segments,
    majority_language,
)
from company.speech.settings import WhisperSettings
from company.speech.streaming import (
    AudioProgress,
    AudioProgressCallback,
    StreamedTranscription,
    WindowProgressCallback,
)
from company.speech.windows import WINDOW_SECONDS, Window, split_windows
from company.speech.worker import CallRequest, ModelWorker, WindowRequest, WorkerStats

if TYPE_CHECKING:
    from whisper.model import Whisper

AudioInput = AudioSource | np.ndarray
"""A file path, the file's bytes, or already-decoded 16 kHz mono float32 samples."""

ProgressCallback = WindowProgressCallback
"""Called on the caller's event loop with (windows done, windows total); while a file is still
being decoded the total is an estimate from its declared duration (exact in the last call)."""

__all__ = [
    "AudioInput",
    "AudioProgress",
    "AudioProgressCallback",
    "ProgressCallback",
    "WhisperService",
    "close_services",
    "get_service",
]

T = TypeVar("T")

_INLINE_CHECK_SAMPLES = 300 * SAMPLE_RATE  # longer arrays are checked off the event loop


class WhisperService:
    """Transcribes audio with one lazily loaded Whisper model, batching concurrent requests."""

    def __init__(
        self,
        settings: WhisperSettings | None = None,
        *,
        max_windows_in_flight: int | None = None,
        worker: ModelWorker | None = None,
    ) -> None:
        """Create the service; nothing is loaded until the first request (or ``load()``).

        ``max_windows_in_flight``: the most windows of one streamed file at the worker at once
        (None: two batches, so the worker has the next batch while the decoder cuts more).
        ``worker``: the model worker to use (tests instrument it); by default a new one.
        """
        self.settings = settings or WhisperSettings()
        self.max_windows_in_flight = max_windows_in_flight or 2 * self.settings.batch_size
        self._worker = worker or ModelWorker(self.settings)

    @property
    def stats(self) -> WorkerStats:
        """Batch counters of the worker (batches, windows, largest batch, tokens)."""
        return self._worker.stats

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded."""
        return self._worker.model is not None

    async def load(self) -> None:
        """Load the model now instead of on the first audio (raises ``ModelUnavailable``)."""
        await self._call(lambda model: None)

    async def transcribe(
        self,
        audio: AudioInput,
        *,
        language: str | None = None,
        name: str | None = None,
        progress: ProgressCallback | None = None,
        audio_progress: AudioProgressCallback | None = None,
        word_timestamps: bool | None = None,
    ) -> Transcription:
        """Transcribe one clip; its windows are decoded in batches with other waiting requests.

        A file (path or bytes) is streamed: decoded incrementally, its windows sent to the
        worker as they are cut, at most ``max_windows_in_flight`` at once. Samples are cut
        and sent at once. ``language`` overrides the configured one (None: configured, else
        auto-detect). ``progress`` gets (windows done, total), ``audio_progress`` an
        ``AudioProgress`` (audio seconds), both after each window. ``word_timestamps`` gives
        each segment its words' times (None: ``settings.word_timestamps``).
        Raises ``AudioError`` subclasses for bad audio and ``ModelUnavailable`` without a model.
        """
        started = time.perf_counter()
        language = language or self.settings.language
        words = self.settings.word_timestamps if word_timestamps is None else word_timestamps
        if isinstance(audio, np.ndarray):
            samples, label = await self._samples(audio, name)
            results = await self._transcribe_samples(samples, language, progress, audio_progress,
                                                     words)
            duration_s = samples.size / SAMPLE_RATE
        else:
            label = _label(audio, name)
            stream = StreamedTranscription(
                self._worker,
                self.settings,
                label=label,
                language=language,
                max_in_flight=self.max_windows_in_flight,
                progress=progress,
                audio_progress=audio_progress,
                word_timestamps=words,
            )
            results = await stream.run(audio)
            duration_s = stream.duration_s
        segments = [segment for window in results for segment in window.segments]
        return Transcription(
            source=label,
            text=join_segments(segments),
            language=language or majority_language(results),
            segments=segments,
            duration_s=duration_s,
            processing_s=time.perf_counter() - started,
            token_count=sum(len(window.tokens) for window in results),
            model=self._worker.model_name or "",
            windows=results,
        )

    async def _transcribe_samples(
        self,
        samples: np.ndarray,
        language: str | None,
        progress: ProgressCallback | None,
        audio_progress: AudioProgressCallback | None,
        word_timestamps: bool = False,
    ) -> list[WindowResult]:
        """Cut decoded samples into windows and decode them all as one request."""
        windows = split_windows(
            samples, max_seconds=WINDOW_SECONDS, search_seconds=self.settings.window_search_s
        )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[WindowResult]] = loop.create_future()
        on_progress = _window_progress(progress, audio_progress, windows)
        request = WindowRequest(
            samples=samples,
            windows=windows,
            language=language,
            on_done=_settle_from_thread(loop, future),
            on_progress=_progress_from_thread(loop, on_progress) if on_progress else None,
            word_timestamps=word_timestamps,
        )
        self._worker.submit(request)
        try:
            return await future
        except asyncio.CancelledError:
            request.cancelled.set()
            raise

    async def transcribe_sequential(
        self, audio: AudioInput, *, language: str | None = None, name: str | None = None,
        word_timestamps: bool = False,
    ) -> Transcription:
        """Transcribe with Whisper's own ``model.transcribe()`` (one stream, no batching).

        Runs on the same worker as the batched path; used as the benchmark baseline.
        """
        started = time.perf_counter()
        samples, label = await self._samples(audio, name)
        language = language or self.settings.language
        settings = self.settings

        decoded = [0, 0]  # decode calls, tokens: transcribe() may re-decode (seek, fallback)

        def run(model: Whisper) -> dict[str, Any]:
            original = model.decode

            def counting_decode(mel: Any, options: Any) -> Any:
                result = original(mel, options)
                decoded[0] += 1
                decoded[1] += len(result.tokens)
                return result

            model.decode = counting_decode  # safe: only this worker thread uses the model
            try:
                return model.transcribe(
                    samples,
                    verbose=None,
                    temperature=settings.temperature,
                    language=language,
                    task=settings.task,
                    fp16=self._worker.fp16,
                    sample_len=settings.sample_len,
                    without_timestamps=not settings.timestamps,
                    word_timestamps=word_timestamps,
                )
            finally:
                del model.decode
                stats = self._worker.stats
                stats.sequential_decodes += decoded[0]
                stats.tokens += decoded[1]

        result = await self._call(run)
        segments = [
            Segment(start=float(s["start"]), end=float(s["end"]), text=str(s["text"]).strip(),
                    words=[Word.model_validate(w) for w in s["words"]] if "words" in s else None)
            for s in result["segments"]
        ]
        return Transcription(
            source=label,
            text=join_segments(segments),
            language=str(result.get("language") or language or ""),
            segments=segments,
            duration_s=samples.size / SAMPLE_RATE,
            processing_s=time.perf_counter() - started,
            token_count=decoded[1],
            model=self._worker.model_name or "",
        )

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop the worker; waiting requests fail with ``ServiceClosed``."""
        self._worker.close(timeout)

    async def _samples(self, audio: AudioInput, name: str | None) -> tuple[np.ndarray, str]:
        """Decode (in a thread, off the event loop) or validate the input samples."""
        limits = self.settings.audio_limits
        if isinstance(audio, np.ndarray):
            label = name or "<samples>"
            if audio.size <= _INLINE_CHECK_SAMPLES:
                return check_samples(audio, limits=limits, name=label), label
            checked = await asyncio.to_thread(check_samples, audio, limits=limits, name=label)
            return checked, label
        label = _label(audio, name)
        samples = await asyncio.to_thread(decode_audio, audio, limits=limits, name=label)
        return samples, label

    async def _call(self, fn: Callable[[Whisper], T]) -> T:
        """Run ``fn(model)`` on the worker thread and await its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._worker.submit(CallRequest(fn=fn, on_done=_settle_from_thread(loop, future)))
        return await future


def _label(audio: AudioSource, name: str | None) -> str:
    """The name errors and results give a file: ``name``, else its path, else ``<bytes>``."""
    if name:
        return name
    return "<bytes>" if isinstance(audio, bytes | bytearray | memoryview) else str(audio)


def _window_progress(
    progress: ProgressCallback | None,
    audio_progress: AudioProgressCallback | None,
    windows: list[Window],
) -> ProgressCallback | None:
    """One (done, total) callback feeding both progress callbacks of a clip cut in advance.

    The worker decodes a request's windows in order, so ``done`` windows end at the end of the
    ``done``-th one.
    """
    if audio_progress is None:
        return progress
    total_s = windows[-1].end_s if windows else 0.0

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress(done, total)
        audio_progress(
            AudioProgress(
                seconds_done=windows[done - 1].end_s if done else 0.0,
                seconds_total=total_s,
                windows_done=done,
                windows_total=total,
            )
        )

    return report


def _settle_from_thread(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]
) -> Callable[[object], None]:
    """A callback for the worker thread that completes ``future`` on its own loop."""

    def settle(outcome: object) -> None:
        if future.done():  # cancelled by the caller
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    def from_thread(outcome: object) -> None:
        try:
            loop.call_soon_threadsafe(settle, outcome)
        except RuntimeError:  # the caller's loop is closed: nobody is waiting any more
            pass

    return from_thread


def _progress_from_thread(
    loop: asyncio.AbstractEventLoop, progress: ProgressCallback
) -> Callable[[int, int], None]:
    """A progress callback for the worker thread that runs ``progress`` on the caller's loop."""

    def from_thread(done: int, total: int) -> None:
        try:
            loop.call_soon_threadsafe(progress, done, total)
        except RuntimeError:
            pass

    return from_thread


_services: dict[WhisperSettings, WhisperService] = {}
_services_lock = threading.Lock()


def get_service(settings: WhisperSettings | None = None) -> WhisperService:
    """The process-wide service for ``settings`` (created on first use, shared afterwards)."""
    settings = settings or WhisperSettings()
    with _services_lock:
        service = _services.get(settings)
        if service is None:
            service = _services[settings] = WhisperService(settings)
        return service


def close_services() -> None:
    """Close every shared service (e.g. at process shutdown or between tests)."""
    with _services_lock:
        services = list(_services.values())
        _services.clear()
    for service in services:
        service.close()
