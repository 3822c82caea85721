"""The one thread that owns a Whisper model: it loads it lazily and decodes windows in batches.

Whisper's decoding installs KV-cache hooks on the shared model, so only this thread touches it.
Requests from any thread or event loop are queued; the thread takes windows round-robin from
waiting requests (same language/task only), up to ``batch_size`` windows, waiting at most
``batch_wait_ms`` for more, and decodes them with one ``whisper.decode`` call.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field

from company.speech.errors import ServiceClosed, SpeechError
from company.speech.results import WindowResult
from company.speech.settings import WhisperSettings
from company.speech.windows import Window

if TYPE_CHECKING:
    from whisper.decoding import DecodingOptions, DecodingResult
    from whisper.model import Whisper
    from whisper.tokenizer import Tokenizer

    from company.speech.decoding import DecodePlan

log = logging.getLogger(__name__)


class WorkerStats(BaseModel):
    """Counters of the worker, for tests and benchmarks."""

    batches: int = 0
    windows: int = 0
    max_batch: int = 0
    batch_sizes: dict[int, int] = Field(default_factory=dict, description="size -> batches")
    tokens: int = 0
    decode_s: float = 0.0
    sequential_decodes: int = Field(default=0, description="decode calls by transcribe()")
    align_s: float = Field(default=0.0, description="time spent finding word timings")


@dataclass(eq=False)
class WindowRequest:
    """All windows of one clip, and how to report progress and the outcome to the caller.

    ``on_progress`` and ``on_done`` are called on the worker thread; they must be thread-safe.
    """

    samples: np.ndarray
    windows: list[Window]
    language: str | None
    on_done: Callable[[list[WindowResult] | BaseException], None]
    on_progress: Callable[[int, int], None] | None = None
    word_timestamps: bool = False
    results: list[WindowResult | None] = field(default_factory=list)
    next_index: int = 0
    done: int = 0
    finished: bool = False
    cancelled: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        """Reserve a result slot per window."""
        self.results = [None] * len(self.windows)


@dataclass(eq=False)
class CallRequest:
    """Run ``fn(model)`` on the worker thread (e.g. sequential ``model.transcribe``)."""

    fn: Callable[[Whisper], Any]
    on_done: Callable[[Any], None]


_STOP = object()
_ANY = object()


class ModelWorker:
    """A daemon thread owning one Whisper model; started on the first submitted request."""

    def __init__(self, settings: WhisperSettings) -> None:
        """Prepare (but do not start) the worker for ``settings``."""
        self.settings = settings
        self.stats = WorkerStats()
        self._inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._active: list[WindowRequest] = []
        self._calls: list[CallRequest] = []
        self._model: Whisper | None = None
        self._tokenizer: Tokenizer | None = None
        self._fp16 = False
        self._quantized = False
        self._batch_size = settings.batch_size
        self._plan: DecodePlan | None = None
        self.model_name: str | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._stopping = False

    @property
    def model(self) -> Whisper | None:
        """The loaded model, or None before the first request (read-only use, e.g. dims)."""
        return self._model

    @property
    def fp16(self) -> bool:
        """Whether decoding runs in fp16 (resolved when the model is loaded)."""
        return self._fp16

    @property
    def quantized(self) -> bool:
        """Whether the model's linears run in int8 (resolved when the model is loaded)."""
        return self._quantized

    @property
    def batch_size(self) -> int:
        """Most windows per batch: ``settings.batch_size``, lowered on CUDA to what fits."""
        return self._batch_size

    def submit(self, request: WindowRequest | CallRequest) -> None:
        """Queue a request; raises ``ServiceClosed`` after ``close()``."""
        with self._lock:
            if self._closed:
                raise ServiceClosed("the speech service is closed")
            if self._thread is None:
                name = f"whisper-worker[{self.settings.model or 'default'}]"
                self._thread = threading.Thread(target=self._run, name=name, daemon=True)
                self._thread.start()
            self._inbox.put(request)

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting requests, finish the current batch, fail the rest, join the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._inbox.put(_STOP)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # ---- worker thread -------------------------------------------------------------------

    def _run(self) -> None:
        """Main loop: wait for work, run calls, decode batches, until stopped."""
        while not self._stopping:
            try:
                self._step()
            except Exception as exc:  # noqa: BLE001 - keep serving; fail what was in flight
                log.exception("speech worker error")
                for request in list(self._active):
                    self._fail(request, exc)
        failure = ServiceClosed("the speech service was closed before this request finished")
        self._drain()
        for request in list(self._active):
            self._fail(request, failure)
        for call in self._calls:
            _safe(call.on_done, failure)

    def _step(self) -> None:
        """One round: block for work when idle, run pending calls, decode one batch."""
        if not self._active and not self._calls:
            self._accept(self._inbox.get())
        self._drain()
        while self._calls and not self._stopping:
            self._run_call(self._calls.pop(0))
        batch = self._collect_batch()
        if batch:
            self._decode(batch)

    def _accept(self, item: object) -> None:
        """File one inbox item as an active request, a pending call, or the stop signal."""
        if item is _STOP:
            self._stopping = True
        elif isinstance(item, WindowRequest):
            self._active.append(item)
        elif isinstance(item, CallRequest):
            self._calls.append(item)

    def _drain(self) -> None:
        """Accept everything already in the inbox without waiting."""
        while True:
            try:
                self._accept(self._inbox.get_nowait())
            except queue.Empty:
                return

    def _collect_batch(self) -> list[tuple[WindowRequest, int]]:
        """Up to ``batch_size`` windows of one language, waiting ``batch_wait_ms`` for more."""
        size = self._batch_size
        batch = self._take(size)
        if not batch:
            return batch
        key = batch[0][0].language
        deadline = time.monotonic() + self.settings.batch_wait_ms / 1000
        while len(batch) < size and not self._stopping and not self._calls:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                self._accept(self._inbox.get(timeout=remaining))
            except queue.Empty:
                break
            self._drain()
            batch += self._take(size - len(batch), language=key)
        return batch

    def _take(
        self, limit: int, *, language: str | None | object = _ANY
    ) -> list[tuple[WindowRequest, int]]:
        """Take windows round-robin from waiting requests of one ``language`` (by default the
        oldest waiting request's; None means auto-detect and is a language key too)."""
        self._active = [r for r in self._active if not (r.finished or r.cancelled.is_set())]
        pending = [r for r in self._active if r.next_index < len(r.windows)]
        if not pending:
            return []
        key = pending[0].language if language is _ANY else language
        eligible = [r for r in pending if r.language == key]
        batch: list[tuple[WindowRequest, int]] = []
        while len(batch) < limit and eligible:
            for request in eligible:
                if len(batch) >= limit:
                    break
                batch.append((request, request.next_index))
                request.next_index += 1
            eligible = [r for r in eligible if r.next_index < len(r.windows)]
        return batch

    def _ensure_model(self) -> Whisper:
        """Load the model on first use (raises ``SpeechError`` subclasses on failure)."""
        if self._model is None:
            from company.speech.decoding import model_tokenizer
            from company.speech.model_loader import load_whisper_model

            if self.settings.threads:
                import torch

                torch.set_num_threads(self.settings.threads)
            device = self.settings.resolved_device()
            name = self.settings.resolved_model(device)
            started = time.perf_counter()
            model = load_whisper_model(
                name,
                device=device,
                download_root=self.settings.download_root,
                timeout_s=self.settings.download_timeout_s,
            )
            model.eval()
            self._fp16 = self.settings.resolved_fp16(device)
            self._prepare(model, device)
            self._tokenizer = model_tokenizer(model, self.settings)
            self._model = model
            self.model_name = name
            elapsed = time.perf_counter() - started
            log.info("loaded Whisper %s on %s in %.1fs", name, device, elapsed)
        return self._model

    def _prepare(self, model: Whisper, device: str) -> None:
        """Precision and batch size for ``device``: int8 linears on the CPU (``cpu_quantize``),
        fp16 weights on CUDA, a batch size that fits free GPU memory (``gpu_batch_auto``)."""
        from company.speech.decoding import decode_plan

        settings = self.settings
        if settings.cpu_quantize != "off" and device.startswith("cpu"):
            from company.speech.precision import (
                quantization_available,
                quantize_int8,
                worth_quantizing,
            )

            if settings.cpu_quantize == "int8":
                try:
                    quantize_int8(model)
                except RuntimeError as exc:  # e.g. no int8 matrix multiply in this PyTorch
                    from company.speech.errors import ModelLoadError

                    raise ModelLoadError(f"cannot quantize Whisper to int8: {exc}") from exc
                self._quantized = True
            elif worth_quantizing(model) and quantization_available():
                quantize_int8(model)
                self._quantized = True
        if self._fp16 and device.startswith("cuda"):
            from company.speech.precision import half_weights

            half_weights(model)
        if settings.gpu_batch_auto and device.startswith("cuda"):
            from company.speech.gpu_batch import gpu_batch_size

            self._batch_size = gpu_batch_size(
                model.dims,
                device,
                fp16=self._fp16,
                fraction=settings.gpu_memory_fraction,
                limit=settings.batch_size,
            )
            log.info("GPU batch size %d (of at most %d)", self._batch_size, settings.batch_size)
        self._plan = decode_plan(settings, device)

    def _run_call(self, call: CallRequest) -> None:
        """Run a call with the model, passing its result or exception to ``on_done``."""
        try:
            outcome: Any = call.fn(self._ensure_model())
        except BaseException as exc:  # noqa: BLE001 - delivered to the caller
            outcome = exc
        _safe(call.on_done, outcome)

    def _decode(self, batch: list[tuple[WindowRequest, int]]) -> None:
        """Decode one batch and hand each window's result to its request."""
        from company.speech.decoding import decoding_options, window_result, with_words

        try:
            model = self._ensure_model()
        except SpeechError as exc:
            # Every waiting request would hit the same failure: fail them all now.
            for request in list(self._active):
                self._fail(request, exc)
            return
        language = batch[0][0].language
        if language is None and not model.is_multilingual:
            language = "en"  # English-only models (tiny.en) cannot detect; as transcribe() does
        options = decoding_options(self.settings, language=language, fp16=self._fp16)
        chunks = [r.samples[r.windows[i].start : r.windows[i].end] for r, i in batch]
        # kept for word alignment (one decoder pass, no second encoder pass) when asked for
        features: list[Any] | None = [] if any(r.word_timestamps for r, _ in batch) else None
        started = time.perf_counter()
        try:
            decoded = self._decode_chunks(model, chunks, options, features)
        except Exception as exc:  # noqa: BLE001 - e.g. CUDA out of memory: fail these requests
            log.exception("Whisper decoding failed for a batch of %d windows", len(batch))
            for request in {id(r): r for r, _ in batch}.values():
                self._fail(request, exc)
            return
        elapsed = time.perf_counter() - started
        precision = 30.0 / model.dims.n_audio_ctx
        assert self._tokenizer is not None
        self.stats.batches += 1
        self.stats.windows += len(batch)
        self.stats.max_batch = max(self.stats.max_batch, len(batch))
        sizes = self.stats.batch_sizes
        sizes[len(batch)] = sizes.get(len(batch), 0) + 1
        self.stats.decode_s += elapsed
        for position, ((request, index), result) in enumerate(zip(batch, decoded, strict=True)):
            if request.finished:
                continue
            window = request.windows[index]
            done = window_result(result, window, self._tokenizer, self.settings, precision)
            if request.word_timestamps:
                aligning = time.perf_counter()
                try:
                    done = with_words(model, self._tokenizer, done, chunks[position],
                                      self.settings, features[position] if features else None)
                except Exception as exc:  # noqa: BLE001 - this request fails, not the batch
                    log.exception("word timings failed for a window")
                    self._fail(request, exc)
                    continue
                finally:
                    self.stats.align_s += time.perf_counter() - aligning
            request.results[index] = done
            self.stats.tokens += len(result.tokens)
            request.done += 1
            if request.on_progress is not None:
                _safe(request.on_progress, request.done, len(request.windows))
            if request.done == len(request.windows):
                request.finished = True
                _safe(request.on_done, [r for r in request.results if r is not None])

    def _decode_chunks(
        self, model: Whisper, chunks: list[np.ndarray], options: DecodingOptions,
        features_out: list[Any] | None = None,
    ) -> list[DecodingResult]:
        """``decode_chunks``; when the device runs out of memory, halve the batch size for good
        and decode the chunks in pieces of that size (a single chunk's failure is final)."""
        import torch

        from company.speech import decoding

        try:
            return decoding.decode_chunks(model, chunks, options, self._plan, features_out)
        except torch.OutOfMemoryError:
            if len(chunks) == 1:
                raise
            if features_out is not None:
                features_out.clear()  # the failed batch's, if its encoder pass got through
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            size = self._batch_size = max(1, min(self._batch_size, len(chunks) // 2))
            log.warning("out of memory for %d windows: batch size now %d", len(chunks), size)
            results: list[DecodingResult] = []
            for start in range(0, len(chunks), size):
                results += self._decode_chunks(model, chunks[start : start + size], options,
                                               features_out)
            return results

    def _fail(self, request: WindowRequest, exc: BaseException) -> None:
        """Finish ``request`` with ``exc`` (once)."""
        if not request.finished:
            request.finished = True
            _safe(request.on_done, exc)
        if request in self._active:
            self._active.remove(request)


def _safe(callback: Callable[..., object], *args: object) -> None:
    """Call a caller-supplied callback; its errors are logged, never kill the worker."""
    try:
        callback(*args)
    except Exception:  # noqa: BLE001
        log.exception("speech callback %r failed", callback)
