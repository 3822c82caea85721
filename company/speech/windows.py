"""Cut long audio into windows of at most 30 s, each cut at the quietest moment near the limit."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from company.speech.audio import SAMPLE_RATE, frame_rms

WINDOW_SECONDS = 30.0
"""Whisper's fixed input length."""


class Window(BaseModel):
    """A half-open sample range ``[start, end)`` of a clip, at most 30 s long."""

    model_config = ConfigDict(frozen=True)

    start: int = Field(ge=0)
    end: int = Field(gt=0)

    @property
    def start_s(self) -> float:
        """Start time in seconds."""
        return self.start / SAMPLE_RATE

    @property
    def end_s(self) -> float:
        """End time in seconds."""
        return self.end / SAMPLE_RATE

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return (self.end - self.start) / SAMPLE_RATE


def split_windows(
    samples: np.ndarray,
    *,
    max_seconds: float = WINDOW_SECONDS,
    search_seconds: float = 5.0,
    frame_ms: float = 20.0,
    smooth_frames: int = 5,
) -> list[Window]:
    """Split 16 kHz ``samples`` into contiguous windows covering them exactly.

    Audio of at most ``max_seconds`` is one window. Otherwise each cut is placed at the quietest
    spot (lowest short-frame RMS, smoothed over ``smooth_frames`` frames) in the last
    ``search_seconds`` before the ``max_seconds`` limit, so that words are not split.
    """
    if not 0 < search_seconds < max_seconds:
        raise ValueError("search_seconds must be positive and shorter than max_seconds")
    total = int(samples.shape[-1])
    if total == 0:
        return []
    max_len = int(round(max_seconds * SAMPLE_RATE))
    search = int(round(search_seconds * SAMPLE_RATE))
    frame = max(1, int(round(frame_ms * SAMPLE_RATE / 1000)))
    windows: list[Window] = []
    start = 0
    while total - start > max_len:
        cut = quietest_cut(samples, start + max_len - search, start + max_len, frame, smooth_frames)
        windows.append(Window(start=start, end=cut))
        start = cut
    windows.append(Window(start=start, end=total))
    return windows


def quietest_cut(samples: np.ndarray, lo: int, hi: int, frame: int, smooth_frames: int = 5) -> int:
    """Sample index in ``(lo, hi]`` at the centre of the quietest frame of that region."""
    region = samples[lo:hi]
    energy = frame_rms(region, frame)
    if smooth_frames > 1 and energy.size >= smooth_frames:
        kernel = np.ones(smooth_frames) / smooth_frames
        # Pad with the edge values so the ends are not artificially quiet.
        padded = np.pad(energy, smooth_frames // 2, mode="edge")
        energy = np.convolve(padded, kernel, mode="valid")[: energy.size]
    best = int(np.argmin(energy))
    cut = lo + best * frame + frame // 2
    return int(min(max(cut, lo + 1), hi))
