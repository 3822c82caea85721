"""The realtime sessions of one server process: admission (per key and in all), the shared
VAD model and TTS engine."""

from __future__ import annotations

import threading
from collections import Counter

from company.realtime.settings import RealtimeSettings
from company.realtime.tts import Synthesizer, make_synthesizer
from company.realtime.vad import VadStream, make_vad


class RealtimeHub:
    """Counts sessions per API key and hands out per-session detectors and the synthesizer."""

    def __init__(self, settings: RealtimeSettings) -> None:
        self.settings = settings
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._synth: Synthesizer | None = None
        self.started = 0

    @property
    def open_sessions(self) -> int:
        """Sessions open now."""
        return sum(self._open.values())

    def admit(self, key: str) -> str | None:
        """Count a new session for ``key``; the refusal's reason when it has too many."""
        with self._lock:
            if self._open[key] >= self.settings.max_sessions_per_key:
                return (f"this key has {self._open[key]} realtime sessions open (at most "
                        f"{self.settings.max_sessions_per_key})")
            if self.open_sessions >= self.settings.max_sessions:
                return f"the server has {self.open_sessions} realtime sessions open"
            self._open[key] += 1
            self.started += 1
            return None

    def release(self, key: str) -> None:
        """A session of ``key`` ended."""
        with self._lock:
            self._open[key] -= 1
            if self._open[key] <= 0:
                del self._open[key]

    def vad(self) -> VadStream:
        """A fresh detector for one session."""
        s = self.settings
        return make_vad(s.vad, energy_threshold=s.energy_threshold)

    def synthesizer(self) -> Synthesizer:
        """The configured TTS engine (shared)."""
        with self._lock:
            if self._synth is None:
                s = self.settings
                self._synth = make_synthesizer(s.tts, voice=s.voice,
                                               words_per_minute=s.words_per_minute,
                                               piper_model=s.piper_model)
            return self._synth
