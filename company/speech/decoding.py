"""Whisper-specific steps: mel batches, decoding options, batched decode, segment parsing.

Everything here touches the model and runs on the worker thread that owns it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from company.speech.results import Segment, WindowResult, Word
from company.speech.settings import WhisperSettings
from company.speech.windows import Window

if TYPE_CHECKING:
    import torch
    from whisper.decoding import DecodingOptions, DecodingResult
    from whisper.model import Whisper
    from whisper.tokenizer import Tokenizer


def decoding_options(
    settings: WhisperSettings, *, language: str | None, fp16: bool
) -> DecodingOptions:
    """Whisper ``DecodingOptions`` for one batch: greedy at ``settings.temperature``, no prompt."""
    from whisper.decoding import DecodingOptions

    return DecodingOptions(
        task=settings.task,
        language=language,
        temperature=settings.temperature,
        sample_len=settings.sample_len,
        without_timestamps=not settings.timestamps,
        fp16=fp16,
    )


@dataclass(frozen=True)
class DecodePlan:
    """How the worker runs a batch (from ``WhisperSettings`` and the resolved device)."""

    fast: bool = True
    drop_finished: bool = True
    sdpa: bool = True
    encode_threads: int | None = None
    decode_threads: int | None = None
    encode_windows: int | None = None


def decode_plan(settings: WhisperSettings, device: str) -> DecodePlan:
    """The plan for ``settings`` on ``device`` (thread counts apply to the CPU only)."""
    on_cpu = device.startswith("cpu")
    return DecodePlan(
        fast=settings.decoder == "fast",
        drop_finished=settings.drop_finished,
        sdpa=settings.sdpa,
        encode_threads=settings.threads if on_cpu else None,
        decode_threads=(settings.decode_threads or settings.threads) if on_cpu else None,
        encode_windows=settings.encode_windows or (1 if on_cpu else None),
    )


def window_mels(chunks: Sequence[np.ndarray], n_mels: int, device: torch.device) -> torch.Tensor:
    """Log-mel spectrograms of audio chunks, each padded to 30 s, stacked to (B, n_mels, 3000).

    The padded audio goes to the device in one copy (from pinned memory on CUDA); each window's
    spectrogram is computed there (Whisper normalises each one by its own maximum).
    """
    import torch
    import whisper

    n_samples = whisper.audio.N_SAMPLES
    padded = np.zeros((len(chunks), n_samples), dtype=np.float32)
    for row, chunk in enumerate(chunks):
        usable = chunk[:n_samples]
        padded[row, : usable.shape[-1]] = usable
    audio = torch.from_numpy(padded)
    if torch.device(device).type == "cuda":
        audio = audio.pin_memory().to(device, non_blocking=True)
    return torch.stack([whisper.log_mel_spectrogram(row, n_mels, device=device) for row in audio])


def encode(model: Whisper, mel: torch.Tensor, windows: int | None = None) -> torch.Tensor:
    """Encoder output for a mel batch, ``windows`` at a time (None: all at once)."""
    import torch

    if windows is None or windows >= mel.shape[0]:
        return model.encoder(mel)
    return torch.cat([model.encoder(mel[i : i + windows]) for i in range(0, mel.shape[0], windows)])


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` intra-op threads (None: unchanged), then restore them."""
    import torch

    if count is None:
        yield
        return
    before = torch.get_num_threads()
    if before != count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


@contextmanager
def sdpa_enabled(enabled: bool) -> Iterator[None]:
    """Switch Whisper's fused attention on or off for the block (a class-wide switch)."""
    from whisper.model import MultiHeadAttention

    before = MultiHeadAttention.use_sdpa
    MultiHeadAttention.use_sdpa = enabled
    try:
        yield
    finally:
        MultiHeadAttention.use_sdpa = before


def decode_chunks(
    model: Whisper,
    chunks: Sequence[np.ndarray],
    options: DecodingOptions,
    plan: DecodePlan | None = None,
    features_out: list[torch.Tensor] | None = None,
) -> list[DecodingResult]:
    """Decode up to 30 s audio chunks together: one encoder pass, then one decoding loop.
    ``features_out`` (when given) gets each chunk's encoder output, for word alignment."""
    import torch
    import whisper

    from company.speech.fast_decode import greedy_decode, supports

    plan = plan or DecodePlan()
    mel = window_mels(chunks, model.dims.n_mels, model.device)
    with torch.no_grad(), sdpa_enabled(plan.sdpa):
        with torch_threads(plan.encode_threads):
            features = encode(model, mel.half() if options.fp16 else mel, plan.encode_windows)
        if features_out is not None:
            features_out.extend(features.unbind(0))
        with torch_threads(plan.decode_threads):
            if plan.fast and supports(options):
                return greedy_decode(model, features, options, drop_finished=plan.drop_finished)
            return whisper.decode(model, features, options)


def model_tokenizer(model: Whisper, settings: WhisperSettings) -> Tokenizer:
    """The tokenizer matching ``model`` (language-neutral; used to turn tokens into text)."""
    from whisper.tokenizer import get_tokenizer

    return get_tokenizer(
        model.is_multilingual, num_languages=model.num_languages, task=settings.task
    )


def window_result(
    result: DecodingResult,
    window: Window,
    tokenizer: Tokenizer,
    settings: WhisperSettings,
    time_precision: float,
) -> WindowResult:
    """Turn one window's ``DecodingResult`` into segments with times in the whole clip."""
    tokens = [int(t) for t in result.tokens]
    silent = _is_silence(result, settings)
    if settings.timestamps:
        segments = parse_segments(
            tokens,
            timestamp_begin=tokenizer.timestamp_begin,
            decode=tokenizer.decode,
            offset_s=window.start_s,
            duration_s=window.duration_s,
            time_precision=time_precision,
        )
    else:
        text = result.text.strip()
        segments = [Segment(start=window.start_s, end=window.end_s, text=text)] if text else []
    return WindowResult(
        start=window.start_s,
        end=window.end_s,
        language=result.language,
        tokens=tokens,
        text=result.text.strip(),
        segments=[] if silent else segments,
        avg_logprob=float(result.avg_logprob),
        no_speech_prob=float(result.no_speech_prob),
        silent=silent,
    )


def parse_segments(
    tokens: Sequence[int],
    *,
    timestamp_begin: int,
    decode: Callable[[list[int]], str],
    offset_s: float,
    duration_s: float,
    time_precision: float = 0.02,
) -> list[Segment]:
    """Split sampled tokens at timestamp tokens into segments, offset by the window start.

    Text after the last timestamp runs to the end of the window; times are clamped to it.
    """
    return [segment for segment, _ in split_segments(
        tokens, timestamp_begin=timestamp_begin, decode=decode, offset_s=offset_s,
        duration_s=duration_s, time_precision=time_precision)]


def split_segments(
    tokens: Sequence[int],
    *,
    timestamp_begin: int,
    decode: Callable[[list[int]], str],
    offset_s: float,
    duration_s: float,
    time_precision: float = 0.02,
) -> list[tuple[Segment, list[int]]]:
    """``parse_segments`` with each segment's text tokens (what word alignment needs)."""
    segments: list[tuple[Segment, list[int]]] = []
    start = 0.0
    text_tokens: list[int] = []
    for token in tokens:
        if token < timestamp_begin:
            text_tokens.append(token)
            continue
        stamp = min((token - timestamp_begin) * time_precision, duration_s)
        if text_tokens:
            segments.extend(_segment(start, stamp, text_tokens, decode, offset_s))
            text_tokens = []
        start = stamp
    if text_tokens:
        segments.extend(_segment(start, duration_s, text_tokens, decode, offset_s))
    return segments


def _segment(
    start: float, end: float, tokens: list[int], decode: Callable[[list[int]], str], offset: float
) -> list[tuple[Segment, list[int]]]:
    """A one-element list with the segment and its tokens, or empty when its text is blank."""
    text = decode(tokens).strip()
    if not text:
        return []
    segment = Segment(start=round(offset + start, 3), end=round(offset + max(end, start), 3),
                      text=text)
    return [(segment, list(tokens))]


def with_words(
    model: Whisper,
    tokenizer: Tokenizer,
    result: WindowResult,
    chunk: np.ndarray,
    settings: WhisperSettings,
    features: torch.Tensor | None = None,
) -> WindowResult:
    """The window's segments with word timings, found as ``transcribe(word_timestamps=True)``
    finds them: the decoder's cross-attention on the alignment heads, aligned by dynamic time
    warping (``whisper.timing.add_word_timestamps``). Segment bounds move to their words.
    With the window's encoder ``features`` (from its decoding batch) the encoder is not run
    again: only the decoder pass over the text is added."""
    import torch
    import whisper
    from whisper.timing import add_word_timestamps

    if not result.segments:
        return result
    if settings.timestamps:
        groups = split_segments(
            result.tokens, timestamp_begin=tokenizer.timestamp_begin, decode=tokenizer.decode,
            offset_s=result.start, duration_s=result.end - result.start,
            time_precision=30.0 / model.dims.n_audio_ctx)
    else:
        text = [t for t in result.tokens if t < tokenizer.eot]
        groups = [(segment, text) for segment in result.segments]
    hop = whisper.audio.HOP_LENGTH
    rows = [{"seek": round(result.start * whisper.audio.SAMPLE_RATE / hop), "start": s.start,
             "end": s.end, "tokens": tokens} for s, tokens in groups]
    if features is not None:
        aligner: Any = _EncodedWindow(model, features)
        mel = torch.empty(0)  # not read: the encoder output is given
    else:
        aligner = model
        mel = window_mels([chunk], model.dims.n_mels, model.device)[0]
        if next(model.parameters()).dtype == torch.float16:
            mel = mel.half()
    add_word_timestamps(
        segments=rows, model=aligner, tokenizer=tokenizer, mel=mel,
        num_frames=min(chunk.shape[-1] // hop, whisper.audio.N_FRAMES),
        last_speech_timestamp=result.start)
    segments = [
        segment.model_copy(update={
            "start": round(float(row["start"]), 3), "end": round(float(row["end"]), 3),
            "words": [Word(word=w["word"], start=float(w["start"]), end=float(w["end"]),
                           probability=float(w["probability"])) for w in row.get("words", [])],
        })
        for (segment, _), row in zip(groups, rows, strict=True)
    ]
    return result.model_copy(update={"segments": segments})


class _EncodedWindow:
    """A model whose forward pass over one window starts from that window's encoder output
    (computed once for its decoding batch): what word alignment calls, without the encoder."""

    def __init__(self, model: Whisper, features: torch.Tensor) -> None:
        self._model = model
        self._features = features

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def __call__(self, mel: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """The decoder's logits for ``tokens`` over the window (``mel`` is not read)."""
        return self._model.decoder(tokens, self._features.unsqueeze(0))


def _is_silence(result: DecodingResult, settings: WhisperSettings) -> bool:
    """Whisper's own no-speech rule: high no-speech probability and low average log-probability."""
    if settings.no_speech_threshold is None or np.isnan(result.no_speech_prob):
        return False
    if result.no_speech_prob <= settings.no_speech_threshold:
        return False
    return settings.logprob_threshold is None or result.avg_logprob < settings.logprob_threshold
