"""Streamed transcription of a file: decode it frame by frame, cut windows as the samples
arrive, keep a bounded number of windows at the model's worker, collect the results in order.

Memory is bounded whatever the duration: the samples since the last cut, the windows waiting
for or at the worker (at most ``max_in_flight``), and the worker's batch of mels.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from company.speech.audio import SAMPLE_RATE, AudioSource, open_audio
from company.speech.results import WindowResult
from company.speech.settings import WhisperSettings
from company.speech.windows import WINDOW_SECONDS, Window, WindowCutter
from company.speech.worker import ModelWorker, WindowRequest

if TYPE_CHECKING:
    from whisper.tokenizer import Tokenizer

log = logging.getLogger(__name__)


class AudioProgress(BaseModel):
    """How far a transcription has got, in audio seconds and in windows."""

    model_config = ConfigDict(frozen=True)

    seconds_done: float = Field(description="audio seconds of the windows transcribed so far")
    seconds_total: float | None = Field(
        description="the clip's duration: declared by the file while it is decoded (None when "
        "it declares none), exact once it is decoded"
    )
    windows_done: int
    windows_total: int | None = Field(description="None until the last window is cut")

    @property
    def finished(self) -> bool:
        """Every window of the clip is transcribed."""
        return self.windows_total is not None and self.windows_done == self.windows_total


AudioProgressCallback = Callable[[AudioProgress], None]
"""Called on the caller's event loop after each transcribed window."""

WindowProgressCallback = Callable[[int, int], None]
"""Called on the caller's event loop with (windows done, windows total)."""


class _Stopped(Exception):
    """The stream was aborted (another part failed, or the caller cancelled)."""


class StreamedTranscription:
    """One file transcribed as it is decoded; create and ``await run()`` on the caller's loop.

    A producer thread decodes and cuts; each window goes to the worker as its own request once
    fewer than ``max_in_flight`` windows are there (backpressure: the decoder waits). The first
    ``max_in_flight`` windows are sent together, so a short file is batched as a whole. Results
    come back on the event loop, are put in clip order and re-timed to the clip. Any failure
    (bad audio at any point, the model, cancellation) stops the decoder and withdraws the
    windows still waiting, and ``run()`` raises it: no partial result.
    """

    def __init__(
        self,
        worker: ModelWorker,
        settings: WhisperSettings,
        *,
        label: str,
        language: str | None,
        max_in_flight: int,
        progress: WindowProgressCallback | None = None,
        audio_progress: AudioProgressCallback | None = None,
        word_timestamps: bool = False,
    ) -> None:
        """Prepare the stream (nothing runs before ``run``)."""
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._worker = worker
        self._settings = settings
        self._label = label
        self._language = language
        self._word_timestamps = word_timestamps
        self._max_in_flight = max_in_flight
        self._progress = progress
        self._audio_progress = audio_progress
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Future[None] | None = None
        # Shared with the producer and worker threads, under _cond.
        self._cond = threading.Condition()
        self._in_flight: dict[int, WindowRequest] = {}
        self._submitted = 0
        self._stopped = False
        self.max_in_flight_seen = 0
        """The most windows that were at the worker at once (for tests and benchmarks)."""
        # Event-loop side.
        self._windows: list[Window] = []
        self._results: list[WindowResult | None] = []
        self._windows_done = 0
        self._samples_done = 0
        self._declared_s: float | None = None
        self._total_samples: int | None = None
        self._tokenizer: Tokenizer | None = None
        self._final_reported = False

    @property
    def duration_s(self) -> float:
        """The decoded duration (valid after ``run`` returned)."""
        return (self._total_samples or 0) / SAMPLE_RATE

    async def run(self, source: AudioSource) -> list[WindowResult]:
        """Transcribe ``source``; the window results in clip order, times in the clip."""
        self._loop = loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        thread = threading.Thread(
            target=self._produce, args=(source,), name=f"speech-stream[{self._label}]", daemon=True
        )
        thread.start()
        try:
            await self._done
        except BaseException:
            self._abort()
            raise
        return [result for result in self._results if result is not None]

    # ---- producer thread -----------------------------------------------------------------

    def _produce(self, source: AudioSource) -> None:
        """Decode, cut and submit; report the outcome to the loop (runs on its own thread)."""
        try:
            total = self._decode_and_submit(source)
        except _Stopped:
            return
        except BaseException as exc:  # noqa: BLE001 - delivered to the caller's loop
            self._call_soon(self._fail, exc)
            return
        self._call_soon(self._decoded, total)

    def _decode_and_submit(self, source: AudioSource) -> int:
        """The producer's work; returns the clip's length in samples."""
        cutter = WindowCutter(search_seconds=self._settings.window_search_s)
        held: list[tuple[Window, np.ndarray]] | None = []
        with open_audio(source, limits=self._settings.audio_limits, name=self._label) as audio:
            self._call_soon(self._declared, audio.declared_seconds)
            # The first windows are held until there are max_in_flight of them: a file of that
            # many windows or fewer goes to the worker all at once, in full batches, as when it
            # was decoded whole. A file declaring more than the limit may really be too long:
            # all of it is held (the running count refuses it) before any model time is spent.
            hold_all = audio.declared_over_limit
            for chunk in audio:
                for window, samples in cutter.push(chunk):
                    if held is None:
                        self._submit(window, samples)
                        continue
                    held.append((window, samples))
                    if len(held) >= self._max_in_flight and not hold_all:
                        for item in held:
                            self._submit(*item)
                        held = None
                if self._stopped:
                    raise _Stopped
            total = audio.decoded_samples  # the iteration ended: every check of the file passed
        for window, samples in [*(held or []), *cutter.finish()]:
            self._submit(window, samples)
        return total

    def _submit(self, window: Window, samples: np.ndarray) -> None:
        """Wait for room at the worker, then queue ``window`` there as its own request."""
        with self._cond:
            self._cond.wait_for(lambda: self._stopped or len(self._in_flight) < self._max_in_flight)
            if self._stopped:
                raise _Stopped
            index = self._submitted
            self._submitted += 1
            request = WindowRequest(
                samples=samples,
                windows=[Window(start=0, end=window.end - window.start)],
                language=self._language,
                on_done=functools.partial(self._window_done, index),
                word_timestamps=self._word_timestamps,
            )
            self._in_flight[index] = request
            self.max_in_flight_seen = max(self.max_in_flight_seen, len(self._in_flight))
        # Scheduled before the worker can answer, so the loop knows the window first.
        self._call_soon(self._cut, index, window)
        try:
            self._worker.submit(request)
        except BaseException:
            with self._cond:
                self._in_flight.pop(index, None)
            raise

    def _window_done(self, index: int, outcome: list[WindowResult] | BaseException) -> None:
        """The worker finished one window (on the worker thread): free its place."""
        with self._cond:
            request = self._in_flight.pop(index, None)
            self._cond.notify_all()
        if request is not None:  # finished: the worker reads its samples no more; let them go
            request.samples = request.samples[:0]
        self._call_soon(self._settle, index, outcome)

    def _call_soon(self, callback: Callable[..., object], *args: object) -> None:
        """Run ``callback`` on the caller's loop (dropped when the loop is closed)."""
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: nobody waits any more
            self._abort()

    # ---- event loop ------------------------------------------------------------------------

    def _declared(self, seconds: float | None) -> None:
        """The container's declared duration is known."""
        self._declared_s = seconds

    def _cut(self, index: int, window: Window) -> None:
        """A window was cut and submitted."""
        assert index == len(self._windows)
        self._windows.append(window)
        self._results.append(None)

    def _settle(self, index: int, outcome: list[WindowResult] | BaseException) -> None:
        """One window's outcome: keep it re-timed to the clip, or fail the whole clip."""
        if self._done is None or self._done.done():
            return
        if isinstance(outcome, BaseException):
            self._fail(outcome)
            return
        window = self._windows[index]
        try:
            self._results[index] = self._retime(outcome[0], window)
        except Exception as exc:  # noqa: BLE001 - fails this clip, not the loop
            self._fail(exc)
            return
        self._windows_done += 1
        self._samples_done += window.end - window.start
        self._report()
        self._finish_if_complete()

    def _decoded(self, total_samples: int) -> None:
        """The producer decoded the whole file and submitted its last window."""
        self._total_samples = total_samples
        self._finish_if_complete()

    def _finish_if_complete(self) -> None:
        """Resolve ``run`` once the file is decoded and every window transcribed."""
        assert self._done is not None
        if self._total_samples is None or self._windows_done < len(self._windows):
            return
        if not self._final_reported:  # the last window came back before the producer ended
            self._report()
        if not self._done.done():
            self._done.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        """Stop everything and make ``run`` raise ``exc`` (the first failure wins)."""
        self._abort()
        if self._done is not None and not self._done.done():
            self._done.set_exception(exc)

    def _abort(self) -> None:
        """Stop the producer and withdraw the windows the worker has not decoded yet."""
        with self._cond:
            self._stopped = True
            waiting = list(self._in_flight.values())
            self._cond.notify_all()
        for request in waiting:
            request.cancelled.set()

    def _report(self) -> None:
        """Call the progress callbacks with the current state."""
        final = self._total_samples is not None
        self._final_reported = final
        done = self._windows_done
        if self._audio_progress is not None:
            state = AudioProgress(
                seconds_done=self._samples_done / SAMPLE_RATE,
                seconds_total=self._total_samples / SAMPLE_RATE if final else self._declared_s,
                windows_done=done,
                windows_total=len(self._windows) if final else None,
            )
            _safe(self._audio_progress, state)
        if self._progress is not None:
            _safe(self._progress, done, len(self._windows) if final else self._windows_estimate())

    def _windows_estimate(self) -> int:
        """Windows cut so far plus those the rest of the declared duration needs (at least
        one more: the clip's last window is cut only when decoding ends)."""
        cut = len(self._windows)
        end_s = self._windows[-1].end_s if self._windows else 0.0
        left_s = (self._declared_s or 0.0) - end_s
        return max(self._windows_done, cut + max(1, math.ceil(left_s / WINDOW_SECONDS)))

    def _retime(self, result: WindowResult, window: Window) -> WindowResult:
        """``result`` (of the window alone) as the whole-file path makes it for ``window``.

        Re-running ``window_result`` on the clip's window, rather than adding the offset to the
        times, rounds the segment times exactly as for a clip decoded whole. Segments with word
        timings (their bounds moved to their words) are shifted instead.
        """
        from whisper.decoding import DecodingResult

        if any(segment.words is not None for segment in result.segments):
            return shift_result(result, window.start_s)

        from company.speech.decoding import model_tokenizer, window_result

        model = self._worker.model
        assert model is not None  # it produced this result
        if self._tokenizer is None:
            self._tokenizer = model_tokenizer(model, self._settings)
        decoded = DecodingResult(
            audio_features=None,  # type: ignore[arg-type]  # not read by window_result
            language=result.language,
            tokens=result.tokens,
            text=result.text,
            avg_logprob=result.avg_logprob,
            no_speech_prob=result.no_speech_prob,
        )
        precision = WINDOW_SECONDS / model.dims.n_audio_ctx
        return window_result(decoded, window, self._tokenizer, self._settings, precision)


def shift_result(result: WindowResult, offset_s: float) -> WindowResult:
    """``result`` with its window, segment and word times moved ``offset_s`` seconds later."""
    segments = [
        segment.model_copy(update={
            "start": round(segment.start + offset_s, 3), "end": round(segment.end + offset_s, 3),
            "words": None if segment.words is None else [
                word.model_copy(update={"start": round(word.start + offset_s, 2),
                                        "end": round(word.end + offset_s, 2)})
                for word in segment.words],
        })
        for segment in result.segments
    ]
    return result.model_copy(update={"start": result.start + offset_s,
                                     "end": result.end + offset_s, "segments": segments})


def _safe(callback: Callable[..., object], *args: object) -> None:
    """Call a caller-supplied callback; its errors are logged, never break the stream."""
    try:
        callback(*args)
    except Exception:  # noqa: BLE001
        log.exception("progress callback %r failed", callback)
