"""A finished turn into the company, through the code voice uploads use: the audio is stored in
the task's folder, checked like an upload (``check_audio``), and becomes the VoiceRequest of a
new task or a follow-up of the session's task."""

from __future__ import annotations

import uuid
import wave
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from company.realtime.audio_in import SAMPLE_RATE

if TYPE_CHECKING:
    from company.api.state import ApiState


def write_turn(directory: Path, samples: np.ndarray) -> Path:
    """Save a turn's int16 samples as ``voice-<8 hex>.wav`` (a name the upload sweep knows)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"voice-{uuid.uuid4().hex[:8]}.wav"
    temp = path.with_name(f".{path.name}.part")
    with wave.open(str(temp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(samples.astype("<i2").tobytes())
    temp.replace(path)
    return path


def _saved(path: Path, filename: str) -> Any:
    """The turn's file as the upload code sees an uploaded one."""
    from company.api.uploads import SavedFile

    return SavedFile(path=path, filename=filename, content_type="audio/wav",
                     size=path.stat().st_size)


async def start_task(api: ApiState, task_id: str, path: Path, *, text: str, sop: str | None,
                     filename: str) -> None:
    """Store the first turn as a new VoiceRequest task and queue its run, as
    ``POST /v1/tasks/voice`` does (``ApiError`` when the server is full or the audio fails the
    upload checks). With a shared database the audio goes into it, like an upload's."""
    from company.api.voice import check_audio
    from company.payloads import VoiceRequestPayload
    from company.run_options import RunOptions

    api.pool.check_capacity()
    options = RunOptions(sop=api.sops.load(sop))
    saved = _saved(path, filename)
    await check_audio(saved, api.settings, api.decodes)
    api.pool.check_capacity()
    if getattr(api.pool, "audio_in_db", False):  # workers elsewhere read it from the database
        from company.api.routes.tasks import store_voice_in_db

        store_voice_in_db(api, task_id, saved, text, options)
        path.unlink(missing_ok=True)
        return
    voice = VoiceRequestPayload(audio_path=str(path), text=text, filename=filename)
    api.company.create_task(text, options, voice=voice, task_id=task_id)
    api.pool.submit(task_id, force=True)


async def follow_up(api: ApiState, task_id: str, path: Path, *, filename: str) -> None:
    """Send a later turn into the task as a spoken follow-up, as ``POST
    /v1/tasks/{id}/messages`` does with an audio file (``ApiError`` 409 while it runs)."""
    from company.api.voice import check_audio
    from company.payloads import VoiceRequestPayload

    saved = _saved(path, filename)
    await check_audio(saved, api.settings, api.decodes)
    if getattr(api.pool, "audio_in_db", False):
        from company.db.audio import store_blob

        with api.company.store.transaction():
            ref = store_blob(api.company.store, task_id, path, filename=filename,
                             content_type=saved.content_type)
            voice = VoiceRequestPayload(audio_path=ref, text="", filename=filename)
            api.pool.follow_up(task_id, "", voice)
        path.unlink(missing_ok=True)
        return
    voice = VoiceRequestPayload(audio_path=str(path), text="", filename=filename)
    api.pool.follow_up(task_id, "", voice)
