"""Transcript formats: every whisper format byte for byte as whisper.utils' writers write the same
segments (with and without word timings), and OpenAI's verbose_json built from a service result."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
from typing import Any

import pytest

from company.payloads import TranscriptPayload, TranscriptSegment
from company.speech.formats import (
    TRANSCRIPT_FORMATS,
    SubtitleOptions,
    TimedSegment,
    WordsUnavailable,
    WordTiming,
    format_timestamp,
    render,
    render_payload,
    render_transcription,
    verbose_json,
    whisper_result,
)
from company.speech.results import Segment, Transcription, WindowResult

SEGMENTS = [
    TimedSegment(start=0.0, end=2.5, text=" Hello there."),
    TimedSegment(start=2.5, end=4.0004, text="Arrows --> are escaped in subtitles\t(tab)"),
    TimedSegment(start=4.0005, end=61.9995, text="  Grüße, 東京, café  "),
    TimedSegment(start=3599.9996, end=3725.123, text="past the first hour"),
    TimedSegment(start=7322.5, end=7322.5, text=""),
]
WORDS_TEXT = ("the quick brown fox jumps over the lazy dog while seven wizards quietly "
              "hex a jovial zebra near the old stone bridge").split()


def whisper_writer(fmt: str) -> Any:
    """whisper.utils' writer class for ``fmt`` (imports whisper, so torch)."""
    from whisper.utils import WriteJSON, WriteSRT, WriteTSV, WriteTXT, WriteVTT

    table = {"txt": WriteTXT, "json": WriteJSON, "srt": WriteSRT, "vtt": WriteVTT,
             "tsv": WriteTSV}
    return table[fmt](output_dir=".")


def whisper_output(fmt: str, result: dict[str, Any], options: dict[str, Any] | None = None
                   ) -> str:
    """What whisper's writer for ``fmt`` writes for ``result``."""
    buffer = io.StringIO()
    whisper_writer(fmt).write_result(result, file=buffer, options=options or {})
    return buffer.getvalue()


def as_result(segments: list[TimedSegment], language: str = "en") -> dict[str, Any]:
    """A Whisper-style result dict for the segments (what whisper's writers read)."""
    rows = [{"id": i, **s.model_dump(exclude_none=True)} for i, s in enumerate(segments)]
    return {"text": "".join(s.text for s in segments), "segments": rows, "language": language}


def with_words(seed: int, count: int = 6) -> list[TimedSegment]:
    """Segments with word timings: random words, gaps (some over 3 s), leading spaces."""
    rng = random.Random(seed)
    segments, clock = [], rng.uniform(0, 2)
    for _ in range(count):
        words = []
        for k in range(rng.randint(1, 14)):
            clock += rng.choice([0.0, 0.05, 0.3, 3.5]) if k else rng.uniform(0.1, 4)
            end = clock + rng.uniform(0.1, 0.6)
            text = rng.choice(WORDS_TEXT)
            words.append(WordTiming(word=(" " if k or rng.random() < 0.7 else "") + text,
                                    start=round(clock, 3), end=round(end, 3),
                                    probability=round(rng.random(), 3)))
            clock = end
        segments.append(TimedSegment(start=words[0].start, end=words[-1].end,
                                     text="".join(w.word for w in words), words=words))
    return segments


@pytest.mark.parametrize("fmt", TRANSCRIPT_FORMATS)
def test_each_format_matches_whispers_writer(fmt: str) -> None:
    result = as_result(SEGMENTS)
    assert render(fmt, SEGMENTS, result=result) == whisper_output(fmt, result)


@pytest.mark.parametrize("fmt", TRANSCRIPT_FORMATS)
def test_no_segments_matches_whisper(fmt: str) -> None:
    result = as_result([])
    assert render(fmt, [], result=result) == whisper_output(fmt, result)


OPTIONS = [
    SubtitleOptions(),
    SubtitleOptions(max_line_width=24, max_line_count=2),
    SubtitleOptions(max_line_width=16, max_line_count=1, highlight_words=True),
    SubtitleOptions(max_words_per_line=3),
    SubtitleOptions(max_words_per_line=4, max_line_width=30, max_line_count=3),
    SubtitleOptions(highlight_words=True),
    SubtitleOptions(max_line_width=20),
]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_word_level_subtitles_match_whisper(fmt: str, seed: int) -> None:
    segments = with_words(seed)
    result = as_result(segments)
    for options in OPTIONS:
        expected = whisper_output(fmt, result, {
            "max_line_width": options.max_line_width, "max_line_count": options.max_line_count,
            "highlight_words": options.highlight_words,
            "max_words_per_line": options.max_words_per_line})
        assert render(fmt, segments, options=options) == expected, options


@pytest.mark.parametrize("fmt", ["txt", "tsv", "json"])
def test_word_timings_leave_the_other_formats_alone(fmt: str) -> None:
    segments = with_words(11)
    result = as_result(segments)
    assert render(fmt, segments, result=result) == whisper_output(fmt, result)


def test_timestamps_round_like_whisper() -> None:
    from whisper.utils import format_timestamp as theirs

    values = [0.0, 0.0004, 0.0005, 0.0015, 59.9995, 3599.9995, 3600.0, 86399.9994, 12.3456789]
    for seconds in values:
        for hours in (False, True):
            for marker in (".", ","):
                assert format_timestamp(seconds, hours, marker) == theirs(seconds, hours, marker)
    with pytest.raises(ValueError, match="negative"):
        format_timestamp(-0.5)


def test_a_stored_transcript_in_every_format() -> None:
    payload = TranscriptPayload(
        transcript="Book a room. For Thursday.", language="en", duration_s=4.2,
        segments=[TranscriptSegment(start=0.0, end=1.8, text="Book a room."),
                  TranscriptSegment(start=1.8, end=4.2, text="For Thursday.")])
    segments = [TimedSegment(start=s.start, end=s.end, text=s.text) for s in payload.segments]
    for fmt in TRANSCRIPT_FORMATS:
        result = {"text": payload.transcript,
                  "segments": [{"id": i, **s.model_dump(exclude_none=True)}
                               for i, s in enumerate(segments)],
                  "language": "en"}
        assert render_payload(fmt, payload) == whisper_output(fmt, result)
    assert render_payload("srt", payload) == (
        "1\n00:00:00,000 --> 00:00:01,800\nBook a room.\n\n"
        "2\n00:00:01,800 --> 00:00:04,200\nFor Thursday.\n\n")
    assert json.loads(render_payload("json", payload))["segments"][1] == {
        "id": 1, "start": 1.8, "end": 4.2, "text": "For Thursday."}


def test_a_transcript_without_segments_is_one_segment() -> None:
    payload = TranscriptPayload(transcript="no timestamps here", duration_s=3.0)
    assert render_payload("vtt", payload) == (
        "WEBVTT\n\n00:00.000 --> 00:03.000\nno timestamps here\n\n")


MULTILINGUAL_TS = 50364  # <|0.00|> in the multilingual vocabulary


def service_result() -> Transcription:
    """A service result of two windows: two segments, then one, with Whisper-like tokens."""
    ts = MULTILINGUAL_TS
    first = WindowResult(
        start=0.0, end=30.0, language="de",
        tokens=[ts, 1001, 1002, ts + 100, ts + 100, 1003, ts + 140],
        text="Guten Tag. Wie geht's?", avg_logprob=-0.25, no_speech_prob=0.01,
        segments=[Segment(start=0.0, end=2.0, text="Guten Tag."),
                  Segment(start=2.0, end=2.8, text="Wie geht's?")])
    second = WindowResult(
        start=28.5, end=40.0, language="de", tokens=[ts + 10, 1004, 1005],
        text="Danke schön", avg_logprob=-0.5, no_speech_prob=0.2,
        segments=[Segment(start=28.7, end=40.0, text="Danke schön")])
    segments = [*first.segments, *second.segments]
    return Transcription(source="a.wav", text="Guten Tag. Wie geht's? Danke schön", language="de",
                         segments=segments, duration_s=40.0, processing_s=1.0, token_count=10,
                         model="base", windows=[first, second])


def test_verbose_json_has_openais_fields() -> None:
    body = verbose_json(service_result(), task="transcribe", temperature=0.0).model_dump(
        exclude_none=True)
    assert list(body) == ["task", "language", "duration", "text", "segments", "usage"]
    assert body["language"] == "german" and body["duration"] == 40.0
    assert body["usage"] == {"type": "duration", "seconds": 40.0}
    first, second, third = body["segments"]
    assert list(first) == ["id", "seek", "start", "end", "text", "tokens", "temperature",
                           "avg_logprob", "compression_ratio", "no_speech_prob"]
    ts = MULTILINGUAL_TS
    assert first["tokens"] == [ts, 1001, 1002, ts + 100]
    assert second["tokens"] == [ts + 100, 1003, ts + 140]
    assert third["tokens"] == [ts + 10, 1004, 1005]
    assert [s["id"] for s in body["segments"]] == [0, 1, 2]
    assert [s["seek"] for s in body["segments"]] == [0, 0, 2850]
    assert third["avg_logprob"] == -0.5 and third["no_speech_prob"] == 0.2
    assert first["compression_ratio"] == second["compression_ratio"] > 0


def test_verbose_json_word_granularity_needs_word_timings() -> None:
    with pytest.raises(WordsUnavailable, match="segment"):
        verbose_json(service_result(), task="transcribe", temperature=0.0,
                     granularities=["word"])


def test_whisper_json_of_a_service_result_is_whispers_layout() -> None:
    result = json.loads(render_transcription("json", service_result()))
    assert list(result) == ["text", "segments", "language"]
    assert result == whisper_result(service_result(), temperature=0.0)
    assert render_transcription("srt", service_result()) == whisper_output("srt", result)


def test_formats_do_not_import_torch() -> None:
    code = ("import sys; from company.speech.formats import render_payload; "
            "from company.payloads import TranscriptPayload as P; "
            "render_payload('srt', P(transcript='x', duration_s=1)); "
            "assert 'torch' not in sys.modules and 'whisper' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
