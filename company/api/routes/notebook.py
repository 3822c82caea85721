"""The Boss's notebook over HTTP: ideas, action items (list, read, change, drop), an export,
and a live stream that says when the notebook changed.

``DELETE /v1/action-items/{id}`` is a soft drop: the item stays in the notebook with status
``dropped`` (listed with ``?status=dropped``, exported, brought back with
``PATCH {"status": "open"}``); dropping a dropped item changes nothing.

``GET /v1/notebook/events`` polls the store (about once a second), so it sees every change,
whoever made it: a run in this server process or another, the CLI, another client's PATCH.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import Response, StreamingResponse

from company.api.auth import require_key, require_key_or_token
from company.api.errors import ApiError
from company.api.routes.tasks import State, errors
from company.api.schemas import (
    IdeaStatus,
    ItemPatch,
    ItemStatus,
    NoteKind,
    NoteOut,
    NotePage,
    NoteStatus,
)
from company.api.sse import sse_frames
from company.events import Event, EventKind
from company.notebook import (
    MAX_LIMIT,
    MAX_QUERY,
    Note,
    Notebook,
    NotebookConflict,
    NotebookError,
    NoteNotFound,
)
from company.store import Store

rest = APIRouter(prefix="/v1", tags=["notebook"], dependencies=[Depends(require_key)])
stream = APIRouter(prefix="/v1", tags=["notebook"],
                   dependencies=[Depends(require_key_or_token)])

NOTEBOOK_POLL_S = 1.0
"""The notebook stream looks at the store at most this often (or ``poll_s`` when longer)."""
MAX_ID = 2**63 - 1

NoteId = Annotated[int, Path(ge=1, le=MAX_ID, description="a note id",
                             openapi_examples={"an item": {"value": 7}})]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="at most this many notes")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="skip this many notes")]
Search = Annotated[str | None, Query(
    max_length=MAX_QUERY, description="every word must appear (literal text, any case) in "
    "the text, source or tags", openapi_examples={"words": {"value": "invoice bob"}})]
Tag = Annotated[str | None, Query(max_length=41, description="only notes with this tag",
                                  openapi_examples={"a tag": {"value": "billing"}})]

PATCH_EXAMPLES: dict[str, Any] = {
    "done": {"summary": "tick it off", "value": {"status": "done"}},
    "reopen": {"summary": "bring a done or dropped item back", "value": {"status": "open"}},
    "edit": {"summary": "change the text, priority and tags",
             "value": {"text": "Send the invoice to Bob by Monday", "priority": "medium",
                       "tags": ["billing"]}},
}
EXPORT_TYPES = {"md": "text/markdown; charset=utf-8", "csv": "text/csv; charset=utf-8"}
SSE_NOTEBOOK = {
    "type": "object",
    "description": "one SSE event whose `data` is JSON: kind `notebook`, data "
    "{total, note_id, updated_at}: the notebook now (sent first on connecting, then after "
    "each change); fetch the lists again",
    "properties": {"id": {"type": "string"}, "data": {"type": "string"},
                   "retry": {"type": "integer"}},
}


@contextmanager
def notebook_errors() -> Iterator[None]:
    """The notebook's refusals as API errors: unknown id 404, state conflict 409, bad 400."""
    try:
        yield
    except NoteNotFound as exc:
        raise ApiError(404, str(exc)) from exc
    except NotebookConflict as exc:
        raise ApiError(409, str(exc)) from exc
    except NotebookError as exc:
        raise ApiError(400, str(exc)) from exc


def note_out(note: Note) -> NoteOut:
    """A note as the API shows it."""
    return NoteOut.model_validate(note.model_dump())


def page(notebook: Notebook, *, kind: str, status: str | None, q: str | None,
         tag: str | None, limit: int, offset: int) -> NotePage:
    """One page of notes of ``kind`` with the total that match."""
    with notebook_errors():
        notes = notebook.list_notes(kind=kind, status=status, q=q, tag=tag, limit=limit,
                                    offset=offset)
        total = notebook.count_notes(kind=kind, status=status, q=q, tag=tag)
    after = offset + len(notes)
    return NotePage(items=[note_out(n) for n in notes], total=total, limit=limit,
                    offset=offset, next_offset=after if after < total else None)


def item(notebook: Notebook, note_id: int) -> Note:
    """The action item with this id (404 when none, or when the id is an idea's)."""
    with notebook_errors():
        note = notebook.get(note_id)
    if note.kind != "item":
        raise ApiError(404, f"no action item {note_id} (note {note_id} is an idea)")
    return note


@rest.get("/ideas", response_model=NotePage, responses=errors(400, 422))
async def list_ideas(
    api: State,
    status: Annotated[IdeaStatus | None, Query(
        description="kept or dropped (any when absent)",
        openapi_examples={"kept": {"value": "kept"}})] = None,
    q: Search = None, tag: Tag = None, limit: Limit = 50, offset: Offset = 0,
) -> NotePage:
    """The ideas, most recently updated first, a page at a time."""
    return page(Notebook(api.company.store), kind="idea", status=status, q=q, tag=tag,
                limit=limit, offset=offset)


@rest.get("/action-items", response_model=NotePage, responses=errors(400, 422))
async def list_items(
    api: State,
    status: Annotated[ItemStatus | None, Query(
        description="open, done or dropped (any when absent)",
        openapi_examples={"open": {"value": "open"}, "done": {"value": "done"}})] = None,
    q: Search = None, tag: Tag = None, limit: Limit = 50, offset: Offset = 0,
) -> NotePage:
    """The action items, most recently updated first, a page at a time."""
    return page(Notebook(api.company.store), kind="item", status=status, q=q, tag=tag,
                limit=limit, offset=offset)


@rest.get("/action-items/{note_id}", response_model=NoteOut, responses=errors(404, 422))
async def get_item(note_id: NoteId, api: State) -> NoteOut:
    """One action item."""
    return note_out(item(Notebook(api.company.store), note_id))


@rest.patch("/action-items/{note_id}", response_model=NoteOut,
            responses=errors(400, 404, 409, 422))
async def patch_item(
    note_id: NoteId, api: State,
    body: Annotated[ItemPatch, Body(openapi_examples=PATCH_EXAMPLES)],
) -> NoteOut:
    """Change an action item, all or nothing: ``status`` done ticks it off, open reopens it,
    dropped drops it; text, priority and tags edit it. 409 when editing a dropped item or
    marking it done (reopen it first, in the same PATCH if you like)."""
    changes = body.changes()
    if not changes:
        raise ApiError(422, "nothing to change: give status, text, priority or tags")
    status = changes.pop("status", None)
    notebook = Notebook(api.company.store)
    with notebook_errors(), api.company.store.transaction():
        note = item(notebook, note_id)
        if status == "open":
            note = notebook.reopen(note_id)
        if changes:
            note = notebook.edit(note_id, **changes)
        if status == "done":
            note = notebook.mark_done(note_id)
        elif status == "dropped":
            note = notebook.drop(note_id)
    return note_out(note)


@rest.delete("/action-items/{note_id}", response_model=NoteOut, responses=errors(404, 422))
async def drop_item(note_id: NoteId, api: State) -> NoteOut:
    """Drop an action item (a soft drop: it stays, with status dropped; PATCH status open
    brings it back). Dropping it again changes nothing."""
    notebook = Notebook(api.company.store)
    item(notebook, note_id)
    with notebook_errors():
        return note_out(notebook.drop(note_id))


@rest.get(
    "/notebook/export", response_class=Response,
    responses={200: {"description": "the notes, oldest first: Markdown (open items, done "
                     "items, ideas, dropped) or CSV with a header row",
                     "content": {"text/markdown": {"schema": {"type": "string"}},
                                 "text/csv": {"schema": {"type": "string"}}}},
               **errors(400, 422)},
)
async def export_notebook(
    api: State,
    fmt: Annotated[Literal["md", "csv"], Query(
        alias="format", description="md (Markdown) or csv",
        openapi_examples={"Markdown": {"value": "md"}, "CSV": {"value": "csv"}})] = "md",
    kind: Annotated[NoteKind | None, Query(description="idea or item (both when absent)")]
    = None,
    status: Annotated[NoteStatus | None, Query(description="only notes with this status")]
    = None,
    q: Search = None, tag: Tag = None,
) -> Response:
    """The whole notebook (or the notes matching the filters) as a file to download."""
    with notebook_errors():
        text = await asyncio.to_thread(Notebook(api.company.store).export, fmt, kind=kind,
                                       status=status, q=q, tag=tag)
    return Response(text, media_type=EXPORT_TYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="notebook.{fmt}"'})


@stream.get(
    "/notebook/events", response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": SSE_NOTEBOOK}},
                     "description": "SSE: a `notebook` event now and after each change to "
                     "the notebook; comment pings while idle; never ends by itself"},
               **errors(422)},
)
async def notebook_events(
    api: State,
    token: Annotated[str | None, Query(description="the API key, for EventSource clients")]
    = None,
) -> StreamingResponse:
    """Live: an event with the notebook's state on connecting and after every change (a
    client re-reads its lists; a reconnect starts afresh, so Last-Event-ID is not needed)."""
    del token  # checked by the dependency
    every_s = max(api.settings.poll_s, NOTEBOOK_POLL_S)
    frames = sse_frames(watch(api.company.store, every_s), api.pool.stop_event, api.settings)
    return StreamingResponse(frames, media_type="text/event-stream", headers={
        "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def state(store: Store) -> dict[str, Any]:
    """What the notebook looks like now: its size and the newest change (every write moves
    the changed note's ``updated_at`` to now, so a new value means a change)."""
    notebook = Notebook(store)
    newest = notebook.list_notes(limit=1)
    return {"total": notebook.count_notes(),
            "note_id": newest[0].id if newest else None,
            "updated_at": newest[0].updated_at if newest else None}


async def watch(store: Store, every_s: float) -> AsyncIterator[Event]:
    """The notebook's state now, then again whenever it changes (until the client leaves)."""
    seq = 0
    last: dict[str, Any] | None = None
    while True:
        now = state(store)
        if now != last:
            seq += 1
            last = now
            yield Event(seq=seq, task_id="", kind=EventKind.NOTEBOOK, data=now)
        await asyncio.sleep(every_s)


router = APIRouter()
"""Both: the REST routes (Bearer key) and the stream (Bearer key or ``?token=``)."""
router.include_router(rest)
router.include_router(stream)
