"""Spoken replies: espeak-ng through its C library (ctypes, no subprocess), or Piper when a
voice model is configured. Both give PCM16 mono at the engine's sample rate."""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_RATE = 1
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)


class TtsUnavailable(RuntimeError):
    """The TTS engine (libespeak-ng, or Piper and its voice) cannot be loaded."""


@dataclass
class Speech:
    """Synthesized audio: int16 samples at ``sample_rate``."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.samples.size / self.sample_rate


class Synthesizer(Protocol):
    """Text to speech."""

    def synthesize(self, text: str) -> Speech:
        """Speak ``text`` (blocking; call it off the event loop)."""
        ...


class EspeakLibrary:
    """libespeak-ng, initialised once per process; one synthesis at a time (it is not
    thread-safe)."""

    _lock = threading.Lock()
    _shared: EspeakLibrary | None = None

    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self.lib = ctypes.CDLL(name)
        except OSError as exc:
            raise TtsUnavailable(f"libespeak-ng is not installed ({exc}); Debian: apt-get "
                                 "install libespeak-ng1") from exc
        lib = self.lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                     ctypes.c_void_p, ctypes.c_void_p]
        self.sample_rate = int(lib.espeak_Initialize(_OUTPUT_SYNCHRONOUS, 200, None, 0))
        if self.sample_rate <= 0:
            raise TtsUnavailable("espeak-ng could not initialise (is espeak-ng-data installed?)")
        self._chunks: list[np.ndarray] = []

        def collect(wav: Any, count: int, events: Any) -> int:
            """espeak-ng's callback: keep the samples, go on (0)."""
            if wav and count > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
            return 0

        self._callback = _CALLBACK(collect)  # kept referenced: C holds the pointer
        lib.espeak_SetSynthCallback(self._callback)

    @classmethod
    def shared(cls) -> EspeakLibrary:
        """The process-wide library."""
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def speak(self, text: str, voice: str, words_per_minute: int) -> Speech:
        """Synthesize ``text`` with ``voice`` at ``words_per_minute``."""
        data = text.encode("utf-8") + b"\0"
        with self._lock:
            self._chunks = []
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise TtsUnavailable(f"espeak-ng has no voice {voice!r}")
            self.lib.espeak_SetParameter(_RATE, words_per_minute, 0)
            status = self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8,
                                           None, None)
            self.lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
        if status != 0:
            raise TtsUnavailable(f"espeak-ng failed to speak (status {status})")
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        return Speech(samples.astype(np.int16), self.sample_rate)


class EspeakSynthesizer:
    """espeak-ng through libespeak-ng."""

    def __init__(self, voice: str = "en-us", words_per_minute: int = 175) -> None:
        self.voice = voice
        self.words_per_minute = words_per_minute

    def synthesize(self, text: str) -> Speech:
        """Speak ``text``."""
        return EspeakLibrary.shared().speak(text, self.voice, self.words_per_minute)


class PiperSynthesizer:
    """Piper (``piper-tts``) with a configured ``.onnx`` voice, loaded on first use."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._voice: Any = None
        self._lock = threading.Lock()

    def synthesize(self, text: str) -> Speech:
        """Speak ``text`` with the Piper voice."""
        with self._lock:
            if self._voice is None:
                try:
                    from piper import PiperVoice
                except ImportError as exc:
                    raise TtsUnavailable("tts: piper needs the piper-tts package") from exc
                try:
                    self._voice = PiperVoice.load(self.model)
                except Exception as exc:  # a missing or broken voice file
                    raise TtsUnavailable(f"the Piper voice {self.model!r}: {exc}") from exc
            chunks = list(self._voice.synthesize(text))
        if not chunks:
            return Speech(np.zeros(0, np.int16), 22_050)
        audio = np.concatenate([np.frombuffer(c.audio_int16_bytes, "<i2") for c in chunks])
        return Speech(audio.astype(np.int16), int(chunks[0].sample_rate))


def make_synthesizer(tts: str, *, voice: str, words_per_minute: int,
                     piper_model: str | None) -> Synthesizer:
    """The configured engine: Piper when chosen and a voice model is set, else espeak-ng."""
    if tts == "piper" and piper_model:
        return PiperSynthesizer(piper_model)
    return EspeakSynthesizer(voice, words_per_minute)
