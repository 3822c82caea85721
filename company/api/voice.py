"""Check an uploaded recording with ``company.speech.audio`` and map its errors to HTTP."""

from __future__ import annotations

import asyncio

from company.api.errors import ApiError
from company.api.settings import ApiSettings
from company.api.uploads import SavedFile


def audio_error_status(exc: Exception) -> int:
    """The HTTP status of an ``AudioError``: 415 not audio, 413 too big/long, else 400."""
    from company.speech.errors import AudioTooLarge, AudioTooLong, NotAudio

    if isinstance(exc, NotAudio):
        return 415
    if isinstance(exc, AudioTooLarge | AudioTooLong):
        return 413
    return 400


async def check_audio(saved: SavedFile, settings: ApiSettings, slots: asyncio.Semaphore) -> float:
    """Decode the file off the event loop (bounded concurrency); return its length in seconds.

    Raises 400 (corrupt, empty, silent), 413 (too large or too long) or 415 (not audio).
    """
    from company.speech.audio import SAMPLE_RATE, AudioLimits, decode_audio
    from company.speech.errors import AudioError

    limits = AudioLimits(max_bytes=settings.max_upload_bytes,
                         max_seconds=settings.max_audio_seconds)
    async with slots:
        try:
            samples = await asyncio.to_thread(decode_audio, saved.path, limits=limits,
                                              name=saved.filename)
        except AudioError as exc:
            raise ApiError(audio_error_status(exc), str(exc)) from exc
    return samples.size / SAMPLE_RATE
