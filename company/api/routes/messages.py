"""Follow-ups from the Boss into an existing task (typed, or a voice note)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError

from company.api.auth import require_key
from company.api.errors import ApiError, not_found, validation_body
from company.api.routes.tasks import State, TaskId, accepted, errors
from company.api.schemas import MAX_REQUEST_CHARS, FollowUp, FollowUpForm
from company.api.uploads import UploadLimits, receive_form
from company.api.voice import check_audio
from company.payloads import VoiceRequestPayload

router = APIRouter(prefix="/v1", tags=["tasks"], dependencies=[Depends(require_key)])

MAX_JSON_BYTES = 4 * MAX_REQUEST_CHARS + 4096


def _body_doc() -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": FollowUp.model_json_schema()},
        "multipart/form-data": {"schema": FollowUpForm.model_json_schema()},
    }}}


async def read_json(request: Request, limit: int = MAX_JSON_BYTES) -> FollowUp:
    """Read a bounded JSON body as a FollowUp (413 when too big, 422 when invalid)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, f"the body is larger than {limit} bytes")
    try:
        return FollowUp.model_validate_json(bytes(body))
    except ValidationError as exc:
        detail = validation_body([dict(e) for e in exc.errors()])["detail"]
        raise ApiError(422, detail) from exc


@router.post("/tasks/{task_id}/messages", status_code=202, openapi_extra=_body_doc(),
             responses=errors(400, 404, 409, 413, 415, 422, 429, 503))
async def follow_up(task_id: TaskId, request: Request, api: State) -> Any:
    """Send a follow-up into a finished (or queued) task; the company continues with the whole
    history. JSON ``{"text"}`` or multipart with ``audio`` (and optional ``text``)."""
    if api.company.store.get_task(task_id) is None:
        raise not_found(task_id)
    if api.pool.stopping:
        api.pool.check_capacity()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        text = (await read_json(request)).text
        api.pool.follow_up(task_id, text, None)
        return accepted(task_id)
    if ctype != "multipart/form-data":
        raise ApiError(415, "send application/json {\"text\": ...} or multipart/form-data "
                       "with an 'audio' file and optional 'text'")
    directory = api.config.workspace / task_id
    form = await receive_form(request, directory=directory, stem=f"voice-{uuid.uuid4().hex[:8]}",
                              limits=UploadLimits.from_settings(api.settings))
    try:
        text = form.fields.get("text", "").strip()
        if len(text) > MAX_REQUEST_CHARS:
            raise ApiError(422, f"text: at most {MAX_REQUEST_CHARS} characters")
        voice = None
        if form.audio is not None:
            await check_audio(form.audio, api.settings, api.decodes)
            voice = VoiceRequestPayload(audio_path=str(form.audio.final_path), text=text,
                                        filename=form.audio.filename)
        elif not text:
            raise ApiError(422, "the follow-up is empty: send 'text' or an 'audio' file")
        if form.audio is not None and api.pool.audio_in_db:  # for workers on other machines
            from company.db.audio import store_blob

            with api.company.store.transaction():
                voice = VoiceRequestPayload(audio_path=store_blob(
                    api.company.store, task_id, form.audio.path, filename=form.audio.filename,
                    content_type=form.audio.content_type), text=text,
                    filename=form.audio.filename)
                api.pool.follow_up(task_id, text, voice)
            form.audio.path.unlink(missing_ok=True)
            return accepted(task_id)
        api.pool.follow_up(task_id, text, voice)
        if form.audio is not None:
            form.audio.commit()  # the message row names it now (no await since: not run yet)
    except BaseException:
        if form.audio is not None:
            form.audio.path.unlink(missing_ok=True)
        raise
    return accepted(task_id)
