"""Task routes: submit (text or voice), list, read, cancel."""

from __future__ import annotations

import shutil
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import ValidationError

from company.api.auth import require_key
from company.api.errors import ApiError, not_found, validation_body
from company.api.previews import clip_text, preview_messages, report_url
from company.api.schemas import (
    TASK_ID_PATTERN,
    CancelResult,
    ErrorBody,
    MessageOut,
    TaskAccepted,
    TaskDetail,
    TaskPage,
    TaskRequest,
    TaskSummary,
    TaskUsage,
    UsageOut,
    UsageTotal,
    ValidationErrorBody,
    VoiceFields,
    VoiceForm,
)
from company.api.settings import ApiSettings
from company.api.state import ApiState, api_state
from company.api.uploads import SavedFile, UploadLimits, receive_form
from company.api.voice import check_audio
from company.company import new_task_id
from company.payloads import VoiceRequestPayload
from company.run_options import RunOptions
from company.status import TaskStatus
from company.store import TaskRecord

router = APIRouter(prefix="/v1", tags=["tasks"], dependencies=[Depends(require_key)])

TaskId = Annotated[str, Path(pattern=TASK_ID_PATTERN, description="a task id")]
State = Annotated[ApiState, Depends(api_state)]
MAX_SEQ = 10**12


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers a route gives."""
    table: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody}}
    for code in codes:
        table[code] = {"model": ValidationErrorBody if code == 422 else ErrorBody}
    return table


def multipart_body(model: type[Any]) -> dict[str, Any]:
    """An OpenAPI requestBody for a multipart form described by ``model``."""
    return {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": model.model_json_schema()}}}}


def accepted(task_id: str, status: TaskStatus = TaskStatus.QUEUED) -> TaskAccepted:
    """The 202 answer for a stored task."""
    return TaskAccepted(task_id=task_id, status=status,
                        status_url=f"/v1/tasks/{task_id}",
                        events_url=f"/v1/tasks/{task_id}/events")


@router.post("/tasks", status_code=202, response_model=TaskAccepted,
             responses=errors(400, 422, 429, 503))
async def submit_task(body: TaskRequest, api: State) -> TaskAccepted:
    """Store a typed request as a new task and queue its run."""
    api.pool.check_capacity()
    sop = api.sops.load(body.sop)
    chosen = body.options.model_dump(exclude_none=True) if body.options else {}
    with api.company.store.transaction():  # the task and its queue entry, or neither
        task_id = api.company.create_task(body.request, RunOptions(sop=sop, **chosen))
        api.pool.submit(task_id, force=True)
    return accepted(task_id)


@router.post("/tasks/voice", status_code=202, response_model=TaskAccepted,
             responses=errors(400, 413, 415, 422, 429, 503),
             openapi_extra=multipart_body(VoiceForm))
async def submit_voice(request: Request, api: State) -> TaskAccepted:
    """Store a voice note (plus optional text) as a new task and queue its run."""
    api.pool.check_capacity()
    task_id = new_task_id()
    directory = api.config.workspace / task_id
    try:
        form = await receive_form(request, directory=directory, stem="voice",
                                  limits=UploadLimits.from_settings(api.settings))
        fields = parse_fields(form.fields)
        if form.audio is None:
            raise ApiError(422, "the form needs an 'audio' file field")
        sop = api.sops.load(fields.sop)
        await check_audio(form.audio, api.settings, api.decodes)
        api.pool.check_capacity()
        if api.pool.audio_in_db:  # workers on other machines read the note from the database
            store_voice_in_db(api, task_id, form.audio, fields.text, RunOptions(sop=sop))
            shutil.rmtree(directory, ignore_errors=True)
            return accepted(task_id)
        voice = VoiceRequestPayload(audio_path=str(form.audio.final_path), text=fields.text,
                                    filename=form.audio.filename)
        api.company.create_task(fields.text, RunOptions(sop=sop), voice=voice, task_id=task_id)
        form.audio.commit()  # its final name only now that the row exists (orphans.py)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    api.pool.submit(task_id, force=True)
    return accepted(task_id)


def store_voice_in_db(api: ApiState, task_id: str, audio: SavedFile, text: str,
                      options: RunOptions) -> None:
    """Store the note's bytes, the task and its transcribe job in one transaction
    (company/db/audio.py)."""
    from company.db.audio import store_blob

    store = api.company.store
    with store.transaction():
        ref = store_blob(store, task_id, audio.path, filename=audio.filename,
                         content_type=audio.content_type)
        voice = VoiceRequestPayload(audio_path=ref, text=text, filename=audio.filename)
        api.company.create_task(text, options, voice=voice, task_id=task_id)
        api.pool.submit(task_id, force=True, kind="transcribe")  # type: ignore[call-arg]


def parse_fields(fields: dict[str, str]) -> VoiceFields:
    """Validate the text fields of a voice form (422 with each problem)."""
    try:
        return VoiceFields.model_validate(fields)
    except ValidationError as exc:
        body = validation_body([dict(e) for e in exc.errors()])
        raise ApiError(422, body["detail"]) from exc


@router.get("/tasks", response_model=TaskPage, responses=errors(422))
async def list_tasks(
    api: State,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> TaskPage:
    """Tasks, newest first, a page at a time."""
    rows = api.company.store.list_tasks(limit=limit, offset=offset, brief=True)
    total = api.company.store.count_tasks()
    after = offset + len(rows)
    items = [summary(t, api.settings.max_view_chars) for t in rows]
    return TaskPage(items=items, total=total, limit=limit, offset=offset,
                    next_offset=after if after < total else None)


def summary(task: TaskRecord, max_chars: int) -> TaskSummary:
    """A task as listed (its request and error cut to ``max_chars``)."""
    return TaskSummary(task_id=task.id, status=task.status,
                       request=clip_text(task.request, max_chars), sop=task.sop_name,
                       rounds=task.rounds, created_at=task.created_at,  # type: ignore[arg-type]
                       updated_at=task.updated_at,  # type: ignore[arg-type]
                       error=None if task.error is None else clip_text(task.error, max_chars))


@router.get("/tasks/{task_id}", response_model=TaskDetail, responses=errors(404, 422))
async def get_task(task_id: TaskId, api: State) -> TaskDetail:
    """A task's status, messages so far, usage and cost, and its report or error."""
    store = api.company.store
    task = store.get_task(task_id)
    if task is None:
        raise not_found(task_id)
    rows = store.usage(task_id)
    total = UsageTotal(
        calls=sum(r.calls for r in rows), prompt_tokens=sum(r.prompt_tokens for r in rows),
        completion_tokens=sum(r.completion_tokens for r in rows),
        tokens=sum(r.prompt_tokens + r.completion_tokens for r in rows),
        cost=round(sum(r.cost for r in rows), 8),
    )
    view = api.settings
    heads = store.message_heads(task_id, view.max_view_chars, 4 * view.max_view_message_bytes)
    messages = preview_messages(heads, task_id, view, _public)
    return TaskDetail(
        **summary(task, view.max_view_chars).model_dump(), llm=task.llm_spec,
        queue_position=api.pool.position(task_id), messages=messages,
        usage=TaskUsage(by_role=[UsageOut(**r.model_dump()) for r in rows], total=total),
        cost=total.cost, report=_report_preview(task, view),
        events_url=f"/v1/tasks/{task_id}/events",
    )


def _report_preview(task: TaskRecord, view: ApiSettings) -> str | None:
    """The report of a done task, cut to ``max_view_chars`` (the whole: GET .../report)."""
    if task.status is not TaskStatus.DONE or task.report is None:
        return None
    return clip_text(task.report, view.max_view_chars, report_url(task.id))


@router.get("/tasks/{task_id}/messages/{seq}", response_model=MessageOut,
            responses=errors(404, 422))
async def get_message(
    task_id: TaskId, seq: Annotated[int, Path(ge=1, le=MAX_SEQ, description="the message seq")],
    api: State,
) -> MessageOut:
    """One message of a task, whole (GET /v1/tasks/{id} shows previews of big ones)."""
    store = api.company.store
    if store.get_task(task_id) is None:
        raise not_found(task_id)
    m = store.message(task_id, seq)
    if m is None:
        raise ApiError(404, f"task {task_id!r} has no message {seq}")
    return MessageOut(id=m.id, seq=m.seq, cause_by=m.cause_by, sent_from=m.sent_from,
                      send_to=m.send_to, content=m.content, payload=_public(m.payload),
                      created_at=m.created_at)


@router.get("/tasks/{task_id}/report", response_class=Response,
            responses={200: {"content": {"text/markdown": {"schema": {"type": "string"}}},
                             "description": "the report, whole, as Markdown"},
                       **errors(404, 409, 422)})
async def get_report(task_id: TaskId, api: State) -> Response:
    """The report of a done task, whole (GET /v1/tasks/{id} shows a preview of a big one);
    409 while the task has none (not done yet, or failed)."""
    task = api.company.store.get_task(task_id)
    if task is None:
        raise not_found(task_id)
    if task.status is not TaskStatus.DONE or task.report is None:
        raise ApiError(409, f"task {task_id!r} has no report (status: {task.status})")
    return PlainTextResponse(task.report, media_type="text/markdown")


def _public(payload: dict[str, Any] | None) -> dict[str, Any] | None:
    """A payload without server-side file paths."""
    if payload is None or "audio_path" not in payload:
        return payload
    return {k: v for k, v in payload.items() if k != "audio_path"}


@router.post("/tasks/{task_id}/cancel", response_model=CancelResult,
             responses=errors(404, 409, 422))
async def cancel_task(task_id: TaskId, api: State) -> CancelResult:
    """Cancel a running task, or take a queued one out of the queue."""
    if api.company.store.get_task(task_id) is None:
        raise not_found(task_id)
    status = await api.pool.cancel(task_id)
    return CancelResult(task_id=task_id, status=status)
