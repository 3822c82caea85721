"""Transcribe: Whisper speech recognition of a voice request, merged with its typed text."""

from __future__ import annotations

import json

from company.action import Action, ActionFailed, ActionOutput, published_by
from company.boss import VoiceRequest
from company.events import EventKind
from company.message import Message
from company.payloads import TranscriptPayload, TranscriptSegment, VoiceRequestPayload

SAID, TYPED = "Said aloud: ", "Typed: "
"""The labels of a voice note's transcript and its typed text in the merged request."""


def merge_text(transcript: str, typed: str) -> str:
    """The request the Analyst reads: what was said, then what was typed. A voice note alone
    reads as the request itself (labelled "Voice note (transcribed)", it read to small models
    as a request to transcribe something)."""
    said, typed = transcript.strip(), typed.strip()
    if said and typed:
        return f"{SAID}{said}\n\n{TYPED}{typed}"
    return said or typed


class Transcribe(Action):
    """Transcribes each voice request in the news with the shared Whisper service."""

    triggers = (VoiceRequest,)
    payload = TranscriptPayload
    description = "transcribe the Boss's voice note and merge it with the typed text"

    async def run(self, news: list[Message]) -> ActionOutput | None:
        """Transcribe the newest voice request; bad audio with typed text still goes on."""
        from company.db.audio import transcribe_voice
        from company.speech.errors import SpeechError

        voices = [m for m in published_by(news, VoiceRequest) if m.payload]
        if not voices:
            return None
        voice = VoiceRequestPayload.model_validate(voices[-1].payload)

        def progress(done: int, total: int) -> None:
            self.ctx.event(EventKind.PROGRESS, what="transcribe", done=done, total=total)

        try:
            # a stored transcript (a transcribe worker's), else Whisper on the file or on the
            # note's bytes in the shared database (company/db/audio.py)
            result = await transcribe_voice(self.ctx.store, self.ctx.services.speech, voice,
                                            progress)
        except SpeechError as exc:
            if not voice.text.strip():
                raise ActionFailed(f"could not transcribe the voice note: {exc}") from exc
            payload = TranscriptPayload(typed_text=voice.text, error=str(exc))
            self._save(payload)
            content = merge_text("", voice.text) + f"\n\n(The voice note was not usable: {exc})"
            return ActionOutput(content=content, payload=payload)
        payload = TranscriptPayload(
            transcript=result.text, typed_text=voice.text, language=result.language,
            duration_s=round(result.duration_s, 3), processing_s=round(result.processing_s, 3),
            segments=[TranscriptSegment(start=s.start, end=s.end, text=s.text)
                      for s in result.segments],
        )
        self._save(payload, model=result.model, tokens=result.token_count)
        content = merge_text(result.text, voice.text)
        if not content:
            raise ActionFailed("the voice note held no recognizable speech and no text was typed")
        return ActionOutput(content=content, payload=payload)

    def _save(self, payload: TranscriptPayload, **extra: object) -> None:
        if self.ctx.workspace is None:
            return
        data = {**payload.model_dump(mode="json"), **extra}
        (self.ctx.workspace / "transcript.json").write_text(
            json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
