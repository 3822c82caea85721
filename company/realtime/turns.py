"""Turn detection: speech probabilities per frame in, turn start and end (with its audio) out.

A turn starts after ``min_speech_ms`` of speech (its audio reaching back ``preroll_ms`` before
the first speech frame) and ends after ``silence_ms`` below the threshold, on ``commit``, or at
``max_turn_s``. Only the current turn's audio (or the pre-roll while idle) is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from company.realtime.audio_in import SAMPLE_RATE
from company.realtime.vad import FRAME

_FRAME_MS = FRAME * 1000 // SAMPLE_RATE  # 32


@dataclass
class TurnStarted:
    """Speech began; ``start_ms`` is where the turn's audio starts (session audio time)."""

    start_ms: int


@dataclass
class TurnEnded:
    """The turn ended; ``audio`` holds it (int16, 16 kHz)."""

    end_ms: int
    reason: Literal["silence", "commit", "max_turn"]
    audio: np.ndarray


TurnEvent = TurnStarted | TurnEnded


class TurnDetector:
    """One session's turns, from its audio and its VAD's per-frame probabilities."""

    def __init__(self, *, threshold: float = 0.5, min_speech_ms: int = 200,
                 silence_ms: int = 700, preroll_ms: int = 400, max_turn_s: float = 60.0) -> None:
        self.threshold = threshold
        self.release = max(0.05, threshold - 0.15)
        self.min_speech_frames = max(1, -(-min_speech_ms // _FRAME_MS))
        self.silence_ms = silence_ms
        self.preroll = preroll_ms * SAMPLE_RATE // 1000
        self.max_turn = int(max_turn_s * SAMPLE_RATE)
        self._buffer = np.zeros(0, np.int16)
        self._buffer_start = 0  # absolute sample index of _buffer[0]
        self._frames = 0  # frames the VAD has scored
        self._speech_run = 0
        self._first_speech = 0
        self._silence_run = 0
        self.turn_start: int | None = None

    @property
    def in_turn(self) -> bool:
        """Whether a turn is under way."""
        return self.turn_start is not None

    @property
    def heard_ms(self) -> int:
        """Session audio received so far, in ms."""
        return (self._buffer_start + self._buffer.size) * 1000 // SAMPLE_RATE

    def set_silence(self, silence_ms: int) -> None:
        """Change the silence that ends a turn."""
        self.silence_ms = silence_ms

    def turn_audio(self) -> np.ndarray:
        """The current turn's audio so far (empty when no turn is under way)."""
        if self.turn_start is None:
            return np.zeros(0, np.int16)
        return self._buffer[self.turn_start - self._buffer_start:]

    def push(self, samples: np.ndarray, probs: list[float]) -> list[TurnEvent]:
        """Add audio and the probabilities of the frames it completed; return what happened."""
        self._buffer = np.concatenate([self._buffer, samples.astype(np.int16)])
        events: list[TurnEvent] = []
        silence_frames = max(1, -(-self.silence_ms // _FRAME_MS))
        for prob in probs:
            frame = self._frames
            self._frames += 1
            end = self._frames * FRAME
            if self.turn_start is None:
                if prob >= self.threshold:
                    if self._speech_run == 0:
                        self._first_speech = frame
                    self._speech_run += 1
                    if self._speech_run >= self.min_speech_frames:
                        start = max(self._buffer_start, self._first_speech * FRAME - self.preroll)
                        self.turn_start = start
                        self._silence_run = 0
                        events.append(TurnStarted(start_ms=start * 1000 // SAMPLE_RATE))
                else:
                    self._speech_run = 0
                continue
            self._silence_run = self._silence_run + 1 if prob < self.release else 0
            if self._silence_run >= silence_frames:
                events.append(self._end(end, "silence"))
            elif end - self.turn_start >= self.max_turn:
                events.append(self._end(end, "max_turn"))
        if self.turn_start is None:
            self._trim()
        return events

    def commit(self) -> TurnEnded | None:
        """End the current turn now with all audio received (None when no turn is under way)."""
        if self.turn_start is None:
            return None
        return self._end(self._buffer_start + self._buffer.size, "commit")

    def clear(self) -> None:
        """Drop the current turn and everything buffered."""
        self._buffer_start += self._buffer.size
        self._buffer = np.zeros(0, np.int16)
        self.turn_start = None
        self._speech_run = 0
        self._silence_run = 0

    def _end(self, end: int, reason: Literal["silence", "commit", "max_turn"]) -> TurnEnded:
        assert self.turn_start is not None
        first = self.turn_start - self._buffer_start
        cut = end - self._buffer_start
        audio = self._buffer[first:cut].copy()
        self._buffer = self._buffer[cut:]
        self._buffer_start = end
        self.turn_start = None
        self._speech_run = 0
        self._silence_run = 0
        return TurnEnded(end_ms=end * 1000 // SAMPLE_RATE, reason=reason, audio=audio)

    def _trim(self) -> None:
        """While idle keep only what a turn starting now could reach back to."""
        keep_from = self._frames * FRAME - self.preroll
        if self._speech_run:
            keep_from = min(keep_from, self._first_speech * FRAME - self.preroll)
        drop = min(self._buffer.size, max(0, keep_from - self._buffer_start))
        if drop:
            self._buffer = self._buffer[drop:]
            self._buffer_start += drop
