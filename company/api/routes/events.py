"""The event stream of a task as Server-Sent Events (replay, then live; resumable)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import StreamingResponse
from pydantic import BeforeValidator

from company.api.auth import require_key_or_token
from company.api.errors import ApiError, not_found
from company.api.routes.tasks import State, TaskId, errors
from company.api.sse import event_source, sse_frames

router = APIRouter(prefix="/v1", tags=["events"], dependencies=[Depends(require_key_or_token)])

MAX_SEQ = 10**12
SEQ_TEXT = re.compile(r"[0-9]{1,13}")  # ASCII only: str.isdigit() also takes '²', int() not
SEQ_RULE = "the seq of an event: 1 to 13 ASCII digits"


def strict_seq(value: Any) -> Any:
    """Refuse a seq given as text unless it is plain ASCII digits (no sign, space, '_')."""
    if isinstance(value, str) and not SEQ_TEXT.fullmatch(value):
        raise ValueError(f"must be {SEQ_RULE}")
    return value


SSE_EVENT = {
    "type": "object",
    "description": "one SSE event: `id` is the event seq, `data` the event as JSON "
    "(seq, task_id, kind, at, data); a last `end` event closes the stream",
    "properties": {"id": {"type": "string"}, "event": {"type": "string"},
                   "data": {"type": "string"}, "retry": {"type": "integer"}},
}


def resume_point(last_event_id: str | None, after: int | None) -> int:
    """Where to resume: the later of ``Last-Event-ID`` and ``?after=`` (0: from the start)."""
    seq = after or 0
    if last_event_id is not None and last_event_id.strip(" \t"):
        text = last_event_id.strip(" \t")
        if not SEQ_TEXT.fullmatch(text):
            raise ApiError(422, f"Last-Event-ID must be {SEQ_RULE}")
        seq = max(seq, int(text))
    return seq


@router.get(
    "/tasks/{task_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": SSE_EVENT}},
                     "description": "SSE: `id:` = event seq, `data:` = the event as JSON; "
                     "ends with `event: end` after the run finishes"},
               **errors(404, 422)},
)
async def task_events(
    task_id: TaskId,
    api: State,
    after: Annotated[int | None, Query(ge=0, le=MAX_SEQ, description="resume after this seq"),
                     BeforeValidator(strict_seq)] = None,
    token: Annotated[str | None, Query(description="the API key, for EventSource clients")]
    = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Replay what already happened, then stream the run live until it finishes."""
    del token  # checked by the dependency
    start = resume_point(last_event_id, after)
    if api.company.store.get_task(task_id) is None:
        raise not_found(task_id)
    source = event_source(api, task_id, start)
    frames = sse_frames(source, api.pool.stop_event, api.settings)
    return StreamingResponse(frames, media_type="text/event-stream", headers={
        "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
