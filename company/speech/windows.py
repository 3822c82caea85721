"""Cut long audio into windows of at most 30 s, each cut at the quietest moment near the limit:
all at once (``split_windows``) or as the samples arrive (``WindowCutter``), with the same cuts."""

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


WindowSamples = tuple[Window, np.ndarray]
"""A window and its samples."""


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
    _check_search(max_seconds, search_seconds)
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


class WindowCutter:
    """Cuts samples that arrive in chunks into exactly the windows ``split_windows`` gives the
    whole clip, each window as soon as the samples after it show that the clip goes on.

    A cut needs only the ``search_seconds`` before the 30 s limit, which are held here whatever
    the chunk boundaries, so the quiet-cut search spans them. Holds the samples since the last
    cut: under ``max_seconds`` plus one chunk.
    """

    def __init__(
        self,
        *,
        max_seconds: float = WINDOW_SECONDS,
        search_seconds: float = 5.0,
        frame_ms: float = 20.0,
        smooth_frames: int = 5,
    ) -> None:
        """Parameters as for ``split_windows``."""
        _check_search(max_seconds, search_seconds)
        self._max_len = int(round(max_seconds * SAMPLE_RATE))
        self._search = int(round(search_seconds * SAMPLE_RATE))
        self._frame = max(1, int(round(frame_ms * SAMPLE_RATE / 1000)))
        self._smooth = smooth_frames
        self._chunks: list[np.ndarray] = []
        self._held = 0
        self._start = 0  # clip index of the first held sample

    @property
    def held_samples(self) -> int:
        """Samples received but not yet in a window."""
        return self._held

    def push(self, chunk: np.ndarray) -> list[WindowSamples]:
        """Add the next samples; return the windows they complete (often none)."""
        if chunk.size == 0:
            return []
        self._chunks.append(chunk)
        self._held += chunk.size
        if self._held <= self._max_len:  # the clip may end here: one more window at most
            return []
        held = self._take_held()
        out: list[WindowSamples] = []
        offset = 0
        while held.size - offset > self._max_len:
            hi = offset + self._max_len
            cut = quietest_cut(held, hi - self._search, hi, self._frame, self._smooth)
            window = Window(start=self._start + offset, end=self._start + cut)
            out.append((window, held[offset:cut]))
            offset = cut
        rest = held[offset:].copy()  # a copy: the emitted windows must not pin the rest
        self._start += offset
        self._chunks = [rest]
        self._held = rest.size
        return out

    def finish(self) -> list[WindowSamples]:
        """The clip has ended: the last window (none for an empty clip)."""
        if not self._held:
            return []
        held = self._take_held()
        window = Window(start=self._start, end=self._start + held.size)
        self._start += held.size
        self._chunks, self._held = [], 0
        return [(window, held)]

    def _take_held(self) -> np.ndarray:
        """The held chunks as one array."""
        return self._chunks[0] if len(self._chunks) == 1 else np.concatenate(self._chunks)


def _check_search(max_seconds: float, search_seconds: float) -> None:
    """The search region must be inside the window."""
    if not 0 < search_seconds < max_seconds:
        raise ValueError("search_seconds must be positive and shorter than max_seconds")


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
