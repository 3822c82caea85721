"""Spoken test phrases: text to a 16 kHz mono WAV with ``espeak-ng`` (for tests and the eval)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ESPEAK = "espeak-ng"


class SynthUnavailable(RuntimeError):
    """``espeak-ng`` is not installed or failed."""


def espeak_available() -> bool:
    """True when the ``espeak-ng`` command is on PATH."""
    return shutil.which(ESPEAK) is not None


def speak_to_wav(
    text: str, path: str | Path, *, voice: str = "en-us", words_per_minute: int = 150
) -> Path:
    """Speak ``text`` into the WAV file ``path`` (espeak-ng writes 22.05 kHz mono PCM)."""
    if not text.strip():
        raise ValueError("nothing to speak: the text is empty")
    if not espeak_available():
        raise SynthUnavailable(f"{ESPEAK} is not installed (Debian: apt-get install espeak-ng)")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    command = [ESPEAK, "-v", voice, "-s", str(words_per_minute), "-w", str(target), "--", text]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=60)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        stderr = getattr(exc, "stderr", b"") or b""
        raise SynthUnavailable(f"{ESPEAK} failed: {stderr.decode(errors='replace')[:200]}") from exc
    return target
