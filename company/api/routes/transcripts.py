"""``GET /v1/tasks/{id}/transcript``: a voice task's transcript in one of whisper's formats.

The transcript is the Transcriber's ``TranscriptPayload`` on the task's ``Transcribe`` message
(the newest one, or the one ``seq`` names: every spoken follow-up has its own).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from company.api.auth import require_key
from company.api.errors import ApiError, not_found
from company.api.routes.tasks import MAX_SEQ, State, TaskId, errors
from company.message import VOICE_REQUEST
from company.payloads import TranscriptPayload
from company.store import Store

router = APIRouter(prefix="/v1", tags=["tasks"], dependencies=[Depends(require_key)])

TRANSCRIBE = "Transcribe"
"""``cause_by`` of the Transcriber's messages (``actions.transcribe.Transcribe``)."""
FORMATS = ("txt", "json", "srt", "vtt", "tsv")
"""Whisper's output formats (``company.speech.formats.TRANSCRIPT_FORMATS``)."""
_MEDIA = {"txt": "text/plain", "json": "application/json", "srt": "application/x-subrip",
          "vtt": "text/vtt", "tsv": "text/tab-separated-values"}
_EXAMPLES = {
    "txt": "Book a meeting room.\nFor Thursday.\n",
    "json": '{"text": "Book a meeting room. For Thursday.", "segments": [{"id": 0, "start": 0.0, '
            '"end": 1.8, "text": "Book a meeting room."}, {"id": 1, "start": 1.8, "end": 4.2, '
            '"text": "For Thursday."}], "language": "en"}',
    "srt": "1\n00:00:00,000 --> 00:00:01,800\nBook a meeting room.\n\n"
           "2\n00:00:01,800 --> 00:00:04,200\nFor Thursday.\n\n",
    "vtt": "WEBVTT\n\n00:00.000 --> 00:01.800\nBook a meeting room.\n\n"
           "00:01.800 --> 00:04.200\nFor Thursday.\n\n",
    "tsv": "start\tend\ttext\n0\t1800\tBook a meeting room.\n1800\t4200\tFor Thursday.\n",
}


def _doc() -> dict[int | str, dict[str, Any]]:
    content = {_MEDIA[f]: {"schema": {"type": "string"}, "example": _EXAMPLES[f]}
               for f in FORMATS}
    return {200: {"description": "the transcript, as whisper's writer for the format writes it",
                  "content": content}, **errors(400, 404, 422)}


@router.get("/tasks/{task_id}/transcript", response_class=Response, responses=_doc())
async def get_transcript(
    task_id: TaskId,
    api: State,
    format: Annotated[str, Query(description="txt, json, srt, vtt or tsv (whisper's writers)",
                                 json_schema_extra={"enum": list(FORMATS)})] = "txt",
    seq: Annotated[int | None, Query(ge=1, le=MAX_SEQ, description="the Transcribe message "
                                     "(default: the newest)")] = None,
) -> Response:
    """A voice task's transcript as text, JSON or subtitles; 404 when the task has none (no
    voice note, not transcribed yet, or the audio was unusable), 400 for an unknown format."""
    from company.speech.formats import MEDIA_TYPES, render_payload

    if format not in FORMATS:
        raise ApiError(400, f"unknown format {format!r}: use one of {', '.join(FORMATS)}")
    store = api.company.store
    task = store.get_task(task_id)
    if task is None:
        raise not_found(task_id)
    payload = _transcript(store, task_id, seq, str(task.status))
    disposition = f'inline; filename="{task_id}-transcript.{format}"'
    return Response(render_payload(format, payload),  # type: ignore[arg-type]
                    media_type=MEDIA_TYPES[format], headers={"Content-Disposition": disposition})


def _transcript(store: Store, task_id: str, seq: int | None, status: str) -> TranscriptPayload:
    """The transcript payload of the chosen Transcribe message, or a 404 saying why not."""
    heads = store.message_heads(task_id, 1, 0)
    transcribed = [h.seq for h in heads if h.cause_by == TRANSCRIBE]
    if seq is not None and seq not in transcribed:
        raise ApiError(404, f"message {seq} of task {task_id!r} is not a transcript "
                       f"(transcripts: {', '.join(map(str, transcribed)) or 'none'})")
    if not transcribed:
        if any(h.cause_by == VOICE_REQUEST for h in heads):
            raise ApiError(404, f"task {task_id!r} has no transcript yet: its voice note has "
                           f"not been transcribed (status: {status})")
        raise ApiError(404, f"task {task_id!r} has no transcript: it was not a voice request")
    message = store.message(task_id, seq or transcribed[-1])
    payload = TranscriptPayload.model_validate(message.payload if message else {})
    if payload.error and not payload.transcript.strip():
        raise ApiError(404, f"task {task_id!r} has no transcript: its voice note could not be "
                       f"transcribed ({payload.error})")
    return payload
