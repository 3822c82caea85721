"""Voice notes of ``speak`` requests: synthesized once with espeak-ng, cached by their words."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from company.research.errors import ResearchInputError
from company.research.requests import RequestSet

VOICES_DIR = "voices"
VOICE = "en-us"
WORDS_PER_MINUTE = 150


def speak_digest(text: str, voice: str = VOICE, words_per_minute: int = WORDS_PER_MINUTE) -> str:
    """The cache key of a voice note: its words and how they are spoken."""
    key = f"{voice}\0{words_per_minute}\0{text.strip()}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def check_speakable(requests: RequestSet) -> None:
    """Requests with ``speak`` need espeak-ng; say so before any run starts."""
    from company.speech.synth import ESPEAK, espeak_available

    speaking = [r for r in requests.requests if r.speak]
    if speaking and not espeak_available():
        first = speaking[0]
        raise ResearchInputError(
            f"{requests.path}:{requests.lines.get(first.id, 0)}: {len(speaking)} requests use "
            f"'speak', which needs {ESPEAK} (Debian: apt-get install espeak-ng)")


class VoiceNotes:
    """Makes the WAV of a ``speak`` text in ``DIR/voices/<digest>.wav``, at most once."""

    def __init__(self, out: Path) -> None:
        self.dir = out / VOICES_DIR
        self._locks: dict[str, asyncio.Lock] = {}

    def path_for(self, text: str) -> Path:
        """Where the voice note of ``text`` lies (whether or not it is made yet)."""
        return self.dir / f"speak-{speak_digest(text)}.wav"

    async def wav(self, text: str) -> Path:
        """The voice note of ``text``: the cached file, else synthesized now (atomically)."""
        from company.speech.synth import speak_to_wav

        target = self.path_for(text)
        async with self._locks.setdefault(target.name, asyncio.Lock()):
            if target.is_file() and target.stat().st_size > 0:
                return target
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp.wav")
            try:
                await asyncio.to_thread(speak_to_wav, text.strip(), tmp, voice=VOICE,
                                        words_per_minute=WORDS_PER_MINUTE)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
        return target
