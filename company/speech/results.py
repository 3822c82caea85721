"""Result models of the speech service."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, Field


class Word(BaseModel):
    """One word with its times in the audio, seconds (``word`` keeps its leading space, as
    Whisper's do) and the decoder's probability for it."""

    word: str
    start: float
    end: float
    probability: float


class Segment(BaseModel):
    """A piece of transcript with its start/end time in the audio, seconds; ``words`` when word
    timestamps were asked for."""

    start: float
    end: float
    text: str
    words: list[Word] | None = None


class WindowResult(BaseModel):
    """What decoding one window (at most 30 s) produced; times are in the whole clip."""

    start: float
    end: float
    language: str
    tokens: list[int] = Field(description="sampled token ids, timestamps included, no EOT")
    text: str
    segments: list[Segment]
    avg_logprob: float
    no_speech_prob: float
    silent: bool = Field(default=False, description="dropped as no speech (text kept here)")


class Transcription(BaseModel):
    """A transcript of one clip."""

    source: str | None = Field(default=None, description="file name or label of the input")
    text: str
    language: str
    segments: list[Segment]
    duration_s: float = Field(description="audio duration, seconds")
    processing_s: float = Field(description="wall time from request to result, seconds")
    token_count: int = Field(description="tokens decoded (timestamp tokens included)")
    model: str
    windows: list[WindowResult] = Field(default_factory=list)

    @property
    def realtime_factor(self) -> float:
        """Audio seconds transcribed per second of processing."""
        return self.duration_s / self.processing_s if self.processing_s > 0 else float("inf")


def join_segments(segments: list[Segment]) -> str:
    """The transcript text: segment texts joined by single spaces."""
    return " ".join(s.text for s in segments if s.text)


def majority_language(windows: list[WindowResult]) -> str:
    """The language detected in most windows (the earliest one wins a tie)."""
    if not windows:
        return ""
    counts = Counter(w.language for w in windows)
    best = max(counts.values())
    return next(w.language for w in windows if counts[w.language] == best)
