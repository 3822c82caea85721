"""Voice notes without a shared disk: the upload's bytes are stored in the database (within the
upload size limit) and named ``db:<blob id>``; a ``--only transcribe`` worker (a GPU box)
transcribes every waiting note at once (the Whisper service batches their windows), stores the
transcript and queues the company run; the Transcriber then reads the stored transcript. A note
is deleted ``audio_retention_s`` after its transcript is stored."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from company.message import utc_now
from company.payloads import VoiceRequestPayload
from company.store import Store

if TYPE_CHECKING:
    from company.company import Company
    from company.db.queue import Job, JobQueue

log = logging.getLogger("company.worker")

BLOB_PREFIX = "db:"
"""An ``audio_path`` of this form names a voice note stored in the database."""


def blob_id_of(audio_path: str) -> str | None:
    """The blob id an ``audio_path`` names, or None for a file path."""
    return audio_path[len(BLOB_PREFIX):] if audio_path.startswith(BLOB_PREFIX) else None


def store_blob(store: Store, task_id: str, path: Path, *, filename: str = "",
               content_type: str = "") -> str:
    """Keep an uploaded file's bytes in the database; return its ``audio_path``."""
    data = path.read_bytes()
    blob_id = uuid.uuid4().hex
    store.execute(
        "INSERT INTO blobs (id, task_id, filename, content_type, size, data, created_at)"
        " VALUES (?,?,?,?,?,?,?)",
        (blob_id, task_id, filename, content_type, len(data), data, utc_now().isoformat()))
    return BLOB_PREFIX + blob_id


def load_blob(store: Store, blob_id: str) -> bytes | None:
    """A stored note's bytes, or None once it is gone (retention)."""
    rows = store.query("SELECT data FROM blobs WHERE id=?", (blob_id,))
    return bytes(rows[0][0]) if rows else None


def save_transcript(store: Store, blob_id: str, task_id: str, transcription: Any,
                    retention_s: float) -> None:
    """Store a note's transcript and start its retention clock."""
    now = store.dialect.now
    with store.transaction():
        store.execute(
            "INSERT INTO transcripts (blob_id, task_id, body, created_at) VALUES (?,?,?,?)"
            " ON CONFLICT (blob_id) DO UPDATE SET body=excluded.body",
            (blob_id, task_id, transcription.model_dump_json(), utc_now().isoformat()))
        store.execute(f"UPDATE blobs SET expires_at={now} + ? WHERE id=?",
                      (retention_s, blob_id))


def stored_transcript(store: Store, blob_id: str) -> Any | None:
    """A note's stored transcript (a ``Transcription``), or None."""
    rows = store.query("SELECT body FROM transcripts WHERE blob_id=?", (blob_id,))
    if not rows:
        return None
    from company.speech.results import Transcription

    return Transcription.model_validate_json(rows[0][0])


def sweep_blobs(store: Store) -> int:
    """Delete the notes whose retention has passed; return how many."""
    return store.execute(f"DELETE FROM blobs WHERE expires_at < {store.dialect.now}")


async def transcribe_voice(store: Store | None, speech: Callable[[], Any],
                           voice: VoiceRequestPayload, progress: Any = None) -> Any:
    """The transcript of a voice note: the stored one when a transcribe worker made it, else
    Whisper here (``speech()`` gives the service) on the stored bytes or the file."""
    blob_id = blob_id_of(voice.audio_path)
    if blob_id is None or store is None:
        return await speech().transcribe(voice.audio_path, name=voice.filename or None,
                                         progress=progress)
    done = stored_transcript(store, blob_id)
    if done is not None:
        return done
    data = load_blob(store, blob_id)
    if data is None:
        from company.speech.errors import SpeechError

        raise SpeechError("the voice note is no longer stored (deleted after its retention "
                          "time)")
    return await speech().transcribe(data, name=voice.filename or "voice note",
                                     progress=progress)


async def transcribe_job(company: Company, queue: JobQueue, owner: str, job: Job) -> None:
    """A transcribe job: transcribe the task's stored notes that have no transcript yet, then
    queue the company run (a note Whisper refuses is left to the Transcriber, which reports
    it as it does for a local file)."""
    from company.db.settings import QueueSettings
    from company.speech.errors import SpeechError

    store = company.store
    retention = QueueSettings.from_config(company.config.queue).audio_retention_s
    for message in store.messages(job.task_id):
        if message.cause_by != "VoiceRequest" or not message.payload:
            continue
        voice = VoiceRequestPayload.model_validate(message.payload)
        blob_id = blob_id_of(voice.audio_path)
        if blob_id is None or stored_transcript(store, blob_id) is not None:
            continue
        data = load_blob(store, blob_id)
        if data is None:
            continue
        try:
            result = await company.services.speech().transcribe(
                data, name=voice.filename or "voice note")
        except SpeechError as exc:
            log.warning("task %s: the voice note was not transcribed here: %s", job.task_id, exc)
            continue
        save_transcript(store, blob_id, job.task_id, result, retention)
        await asyncio.sleep(0)
    queue.enqueue(job.task_id, "company")
