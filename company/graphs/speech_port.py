"""Adapt the company's Whisper service to the blocks' `BlockServices.transcribe` callable."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from company.graphs.blocks.base import Transcribe

if TYPE_CHECKING:
    from company.speech import WhisperService


def whisper_transcribe(service: Callable[[], WhisperService]) -> Transcribe:
    """A `transcribe(audio bytes, file name) -> text` that asks `service()` for the Whisper
    service only when audio arrives, so the model loads on first use (e.g. `Services.speech`)."""

    async def transcribe(audio: bytes, name: str) -> str:
        result = await service().transcribe(audio, name=name)
        return result.text

    return transcribe
