"""Transcript formats: txt, json, srt, vtt and tsv byte for byte as openai-whisper's writers
(``whisper.utils.WriteTXT`` ...) write them, and OpenAI's ``verbose_json``.

Written here rather than imported: ``whisper.utils`` can only be imported through the
``whisper`` package, which imports torch, and a server that only formats a stored transcript
should not load torch. ``tests/test_speech_formats.py`` checks every format against whisper's
own writers on the same segments.

Word timings are optional everywhere (``TimedSegment.words``, ``VerboseTranscription.words``):
when segments carry them, the subtitle writers switch to whisper's word-level layout and
``verbose_json`` can list them, so the decoder only has to fill them in.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from company.payloads import TranscriptPayload
    from company.speech.results import Segment, Transcription, WindowResult

TranscriptFormat = Literal["txt", "json", "srt", "vtt", "tsv"]
TRANSCRIPT_FORMATS: tuple[TranscriptFormat, ...] = ("txt", "json", "srt", "vtt", "tsv")
"""The formats of ``whisper --output_format`` (``all`` aside)."""

MEDIA_TYPES: dict[str, str] = {
    "txt": "text/plain; charset=utf-8",
    "json": "application/json",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
}
"""The Content-Type of each transcript format."""

FRAMES_PER_SECOND = 100
"""Whisper's mel frames per second: ``seek`` counts these (10 ms hops)."""
_SPECIAL_FLOOR = 50257
"""Token ids from here up are special (end of text, languages, tasks, timestamps) in both
of Whisper's vocabularies; text tokens are below."""


class WordTiming(BaseModel):
    """One word with its times, seconds (``word`` keeps its leading space, as Whisper's do)."""

    word: str
    start: float
    end: float
    probability: float | None = None


class TimedSegment(BaseModel):
    """A piece of transcript with its times, seconds; ``words`` when word timings were decoded."""

    start: float
    end: float
    text: str
    words: list[WordTiming] | None = None


class VerboseSegment(BaseModel):
    """A segment as OpenAI's ``verbose_json`` (and Whisper's ``transcribe()``) gives it; the
    decoding figures are those of the 30 s window the segment was decoded in."""

    id: int
    seek: int = Field(description="the window's start in 10 ms mel frames")
    start: float
    end: float
    text: str
    tokens: list[int] = Field(description="the segment's token ids, timestamps included")
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


class VerboseWord(BaseModel):
    """One word of ``verbose_json`` (``timestamp_granularities[]=word``)."""

    word: str
    start: float
    end: float


class DurationUsage(BaseModel):
    """What the request used, as OpenAI reports it for audio billed by duration."""

    type: Literal["duration"] = "duration"
    seconds: float


class VerboseTranscription(BaseModel):
    """OpenAI's ``verbose_json`` answer; ``segments`` and ``words`` as the granularities ask."""

    task: Literal["transcribe", "translate"]
    language: str = Field(description="the spoken language's English name, e.g. 'english'")
    duration: float = Field(description="audio seconds")
    text: str
    segments: list[VerboseSegment] | None = None
    words: list[VerboseWord] | None = None
    usage: DurationUsage | None = None


class WordsUnavailable(ValueError):
    """Word timestamps were asked for but the transcript has none."""


@dataclass(frozen=True)
class SubtitleOptions:
    """Whisper's subtitle options; they only change the layout of segments with words."""

    max_line_width: int | None = None
    max_line_count: int | None = None
    highlight_words: bool = False
    max_words_per_line: int | None = None


# ---------------------------------------------------------------- whisper's writers


def format_timestamp(
    seconds: float, always_include_hours: bool = False, decimal_marker: str = "."
) -> str:
    """``[HH:]MM:SS.mmm`` as ``whisper.utils.format_timestamp`` writes it."""
    if seconds < 0:
        raise ValueError(f"a timestamp cannot be negative ({seconds})")
    milliseconds = round(seconds * 1000.0)
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    whole, milliseconds = divmod(milliseconds, 1_000)
    hours_marker = f"{hours:02d}:" if always_include_hours or hours > 0 else ""
    return f"{hours_marker}{minutes:02d}:{whole:02d}{decimal_marker}{milliseconds:03d}"


def write_txt(segments: Sequence[TimedSegment]) -> str:
    """One line per segment, stripped (``WriteTXT``)."""
    return "".join(f"{s.text.strip()}\n" for s in segments)


def write_tsv(segments: Sequence[TimedSegment]) -> str:
    """``start<TAB>end<TAB>text`` in integer milliseconds, under a header line (``WriteTSV``)."""
    rows = ["start\tend\ttext\n"]
    for s in segments:
        text = s.text.strip().replace("\t", " ")
        rows.append(f"{round(1000 * s.start)}\t{round(1000 * s.end)}\t{text}\n")
    return "".join(rows)


def write_vtt(segments: Sequence[TimedSegment], options: SubtitleOptions | None = None) -> str:
    """WebVTT, hours only past the first hour (``WriteVTT``)."""
    cues = _cues(segments, options or SubtitleOptions(), hours=False, marker=".")
    return "WEBVTT\n\n" + "".join(f"{start} --> {end}\n{text}\n\n" for start, end, text in cues)


def write_srt(segments: Sequence[TimedSegment], options: SubtitleOptions | None = None) -> str:
    """SubRip, numbered from 1, ``HH:MM:SS,mmm`` (``WriteSRT``)."""
    cues = _cues(segments, options or SubtitleOptions(), hours=True, marker=",")
    return "".join(
        f"{i}\n{start} --> {end}\n{text}\n\n" for i, (start, end, text) in enumerate(cues, 1)
    )


def write_json(result: dict[str, Any]) -> str:
    """``json.dump`` of a Whisper-style result dict, Whisper's defaults (``WriteJSON``)."""
    return json.dumps(result)


def _cues(
    segments: Sequence[TimedSegment], options: SubtitleOptions, *, hours: bool, marker: str
) -> Iterator[tuple[str, str, str]]:
    """(start, end, text) of each subtitle, as ``SubtitlesWriter.iterate_result`` yields them."""

    def stamp(seconds: float) -> str:
        return format_timestamp(seconds, always_include_hours=hours, decimal_marker=marker)

    if not segments or segments[0].words is None:
        for s in segments:
            yield stamp(s.start), stamp(s.end), s.text.strip().replace("-->", "->")
        return
    for subtitle in _word_subtitles(segments, options):
        first, last = stamp(subtitle[0].start), stamp(subtitle[-1].end)
        text = "".join(w.word for w in subtitle)
        if not options.highlight_words:
            yield first, last, text
            continue
        previous = first
        words = [w.word for w in subtitle]
        for i, timing in enumerate(subtitle):
            start, end = stamp(timing.start), stamp(timing.end)
            if previous != start:
                yield previous, start, text
            marked = [_underline(w) if j == i else w for j, w in enumerate(words)]
            yield start, end, "".join(marked)
            previous = end


def _underline(word: str) -> str:
    """``<u>word</u>`` after any leading whitespace (a line break included)."""
    return re.sub(r"^(\s*)(.*)$", r"\1<u>\2</u>", word)


def _word_subtitles(
    segments: Sequence[TimedSegment], options: SubtitleOptions
) -> Iterator[list[WordTiming]]:
    """Group word timings into subtitles and lines the way whisper's writers do.

    Without both a line width and a line count, each segment stays one subtitle; with both,
    lines fill up to the width, subtitles to the count, and a pause over 3 s starts a new one.
    A line break is a ``\\n`` prefixed to the line's first word.
    """
    preserve_segments = options.max_line_count is None or options.max_line_width is None
    max_width = options.max_line_width or 1000
    max_words = options.max_words_per_line or 1000
    line_len, line_count = 0, 1
    subtitle: list[WordTiming] = []
    first_word = next((w.start for s in segments for w in s.words or ()), None)
    last = first_word if first_word is not None else segments[0].start
    for segment in segments:
        words = segment.words or []
        chunk = 0
        count = max_words
        while chunk < len(words):
            if max_words > len(words) - chunk:
                count = len(words) - chunk
            for i, original in enumerate(words[chunk : chunk + count]):
                timing = original.model_copy()
                long_pause = not preserve_segments and timing.start - last > 3.0
                has_room = line_len + len(timing.word) <= max_width
                seg_break = i == 0 and bool(subtitle) and preserve_segments
                if line_len > 0 and has_room and not long_pause and not seg_break:
                    line_len += len(timing.word)
                else:
                    timing.word = timing.word.strip()
                    full = options.max_line_count is not None and (
                        long_pause or line_count >= options.max_line_count
                    )
                    if (subtitle and full) or seg_break:
                        yield subtitle
                        subtitle, line_count = [], 1
                    elif line_len > 0:
                        line_count += 1
                        timing.word = "\n" + timing.word
                    line_len = len(timing.word.strip())
                subtitle.append(timing)
                last = timing.start
            chunk += max_words
    if subtitle:
        yield subtitle


def render(
    fmt: TranscriptFormat,
    segments: Sequence[TimedSegment],
    *,
    result: dict[str, Any] | None = None,
    options: SubtitleOptions | None = None,
) -> str:
    """The transcript in ``fmt``; ``json`` writes ``result`` (a Whisper-style result dict)."""
    if fmt == "txt":
        return write_txt(segments)
    if fmt == "tsv":
        return write_tsv(segments)
    if fmt == "vtt":
        return write_vtt(segments, options)
    if fmt == "srt":
        return write_srt(segments, options)
    if fmt == "json":
        if result is None:
            raise ValueError("the json format needs the result dict")
        return write_json(result)
    allowed = ", ".join(TRANSCRIPT_FORMATS)
    raise ValueError(f"unknown transcript format {fmt!r}; use one of {allowed}")


# ---------------------------------------------------------------- from a stored transcript


def payload_segments(payload: TranscriptPayload) -> list[TimedSegment]:
    """The Transcriber's segments; a transcript without any becomes one segment for the clip."""
    segments = [TimedSegment(start=s.start, end=s.end, text=s.text) for s in payload.segments]
    if not segments and payload.transcript.strip():
        segments = [TimedSegment(start=0.0, end=payload.duration_s, text=payload.transcript)]
    return segments


def render_payload(fmt: TranscriptFormat, payload: TranscriptPayload) -> str:
    """A stored transcript (the Transcriber's payload) in ``fmt``."""
    segments = payload_segments(payload)
    result = {
        "text": payload.transcript,
        "segments": [{"id": i, **s.model_dump(exclude_none=True)} for i, s in enumerate(segments)],
        "language": payload.language,
    }
    return render(fmt, segments, result=result)


# ---------------------------------------------------------------- from the Whisper service


def compression_ratio(text: str) -> float:
    """How well the text compresses (zlib), Whisper's repetition measure."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def timed_segments(transcription: Transcription) -> list[TimedSegment]:
    """The service's segments, with their word timings when the decoder gave some."""
    return [
        TimedSegment(start=s.start, end=s.end, text=s.text, words=segment_words(s))
        for s in transcription.segments
    ]


def segment_words(segment: Segment) -> list[WordTiming] | None:
    """A segment's word timings, or None while the decoder does not produce them."""
    words = getattr(segment, "words", None)
    if words is None:
        return None
    return [WordTiming.model_validate(w, from_attributes=True) for w in words]


def verbose_segments(transcription: Transcription, *, temperature: float) -> list[VerboseSegment]:
    """Every segment with its window's decoding figures, numbered from 0 (Whisper's layout).

    A transcription without windows (``transcribe_sequential``) gives zeros for the figures.
    """
    out: list[VerboseSegment] = []
    windows = transcription.windows or []
    if not windows:
        for s in transcription.segments:
            out.append(VerboseSegment(
                id=len(out), seek=0, start=s.start, end=s.end, text=s.text,
                tokens=_own_tokens(s) or [], temperature=temperature, avg_logprob=0.0,
                compression_ratio=compression_ratio(s.text), no_speech_prob=0.0))
        return out
    for window in windows:
        tokens = _window_segment_tokens(window)
        ratio = compression_ratio(window.text)
        for s, segment_tokens in zip(window.segments, tokens, strict=True):
            out.append(VerboseSegment(
                id=len(out), seek=round(window.start * FRAMES_PER_SECOND), start=s.start,
                end=s.end, text=s.text, tokens=segment_tokens, temperature=temperature,
                avg_logprob=window.avg_logprob, compression_ratio=ratio,
                no_speech_prob=window.no_speech_prob))
    return out


def _own_tokens(segment: Segment) -> list[int] | None:
    """The segment's own token ids, once the decoder records them on segments."""
    tokens = getattr(segment, "tokens", None)
    return [int(t) for t in tokens] if tokens is not None else None


def _window_segment_tokens(window: WindowResult) -> list[list[int]]:
    """The token ids of each of the window's segments.

    The decoder's own, when segments carry them. Otherwise the window's tokens are cut into
    runs of text between timestamp tokens (each run with the timestamps around it, as
    Whisper's ``transcribe()`` keeps them); when the runs do not pair one-to-one with the
    segments (a run of blank text was dropped), the segments get no tokens.
    """
    own = [_own_tokens(s) for s in window.segments]
    if all(t is not None for t in own):
        return [t or [] for t in own]
    runs: list[list[int]] = []
    current: list[int] = []
    has_text = False
    for token in window.tokens:
        if token < _SPECIAL_FLOOR:
            current.append(token)
            has_text = True
            continue
        current.append(token)
        if has_text:
            runs.append(current)
            current, has_text = [token], False
        else:
            current = [token]
    if has_text:
        runs.append(current)
    if len(runs) != len(window.segments):
        return [[] for _ in window.segments]
    return runs


def language_name(code: str) -> str:
    """The English name OpenAI reports for a language code (``en`` -> ``english``)."""
    from whisper.tokenizer import LANGUAGES

    return LANGUAGES.get(code.lower(), code)


def verbose_json(
    transcription: Transcription,
    *,
    task: Literal["transcribe", "translate"],
    temperature: float,
    granularities: Sequence[str] = ("segment",),
) -> VerboseTranscription:
    """OpenAI's ``verbose_json`` for a transcription (``granularities``: segment and/or word).

    Raises ``WordsUnavailable`` when words are asked for and the segments have no timings.
    """
    words: list[VerboseWord] | None = None
    if "word" in granularities:
        timed = timed_segments(transcription)
        if timed and any(s.words is None for s in timed):
            raise WordsUnavailable("this server's Whisper service does not decode word "
                                   "timestamps yet; ask for timestamp_granularities[]=segment")
        words = [VerboseWord(word=w.word.strip(), start=w.start, end=w.end)
                 for s in timed for w in s.words or ()]
    segments = None
    if "segment" in granularities or words is None:
        segments = verbose_segments(transcription, temperature=temperature)
    duration = round(transcription.duration_s, 3)
    return VerboseTranscription(
        task=task, language=language_name(transcription.language), duration=duration,
        text=transcription.text, segments=segments, words=words,
        usage=DurationUsage(seconds=duration))


def whisper_result(transcription: Transcription, *, temperature: float) -> dict[str, Any]:
    """The dict ``whisper.transcribe()`` returns (text, segments, language), for ``json``."""
    segments = [s.model_dump() for s in verbose_segments(transcription, temperature=temperature)]
    for row, timed in zip(segments, timed_segments(transcription), strict=True):
        if timed.words is not None:
            row["words"] = [w.model_dump() for w in timed.words]
    return {"text": transcription.text, "segments": segments, "language": transcription.language}


def render_transcription(
    fmt: TranscriptFormat, transcription: Transcription, *, temperature: float = 0.0,
    options: SubtitleOptions | None = None,
) -> str:
    """A service transcription in one of whisper's formats (subtitles laid out as ``options``
    says when the segments have word timings)."""
    result = whisper_result(transcription, temperature=temperature) if fmt == "json" else None
    return render(fmt, timed_segments(transcription), result=result, options=options)
