"""Server-Sent Events of a task's event stream: replay first, then live, ``id:`` = seq."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from company.api.previews import clip_text, fit, message_url, report_url
from company.api.settings import ApiSettings
from company.api.state import ApiState
from company.db.notify import Wakeups
from company.events import Event, EventKind
from company.status import TERMINAL
from company.store import Store

log = logging.getLogger("company.api")
END = b"event: end\ndata: {}\n\n"


SERVER_LOCAL = ("workspace", "audio_path")
"""Event data keys that name places on the server (GET hides them too)."""


def public_data(event: Event, settings: ApiSettings) -> dict[str, Any]:
    """An event's data as a client sees it: no server paths, and cut to the view limits (a
    message's values point at the whole message, the report at the whole report)."""
    data = {k: v for k, v in event.data.items() if k not in SERVER_LOCAL}
    see = None
    if event.kind is EventKind.MESSAGE and isinstance(data.get("seq"), int):
        see = message_url(event.task_id, data["seq"])
    if isinstance(data.get("report"), str):
        data["report"] = clip_text(data["report"], settings.max_view_chars,
                                   report_url(event.task_id))
    return fit(data, settings.max_view_message_bytes, settings.max_view_chars, see)


def format_event(event: Event, settings: ApiSettings) -> bytes:
    """One SSE frame: ``id`` is the event's seq, ``data`` the public event as JSON."""
    public = event.model_copy(update={"data": public_data(event, settings)})
    return f"id: {event.seq}\ndata: {public.model_dump_json()}\n\n".encode()


def event_source(api: ApiState, task_id: str, after: int) -> AsyncIterator[Event]:
    """Events with seq > ``after``: from the live bus when this process runs the task,
    from the stored history when it is finished, else by polling the store."""
    company = api.company
    if api.pool.state(task_id) is not None:
        return company.buses.open(task_id).subscribe(after_seq=after)
    task = company.store.get_task(task_id)
    if task is None or task.status in TERMINAL:
        return company.buses.bus(task_id).subscribe(after_seq=after)
    return poll_store(company.store, task_id, after, api.settings.poll_s,
                      wakeups=getattr(api.pool, "wakeups", None))


FALLBACK_POLL_S = 2.0
"""With NOTIFY wake-ups, a stream still reads the rows this often (one lost in a reconnect)."""


async def poll_store(
    store: Store, task_id: str, after: int, every_s: float, wakeups: Wakeups | None = None,
) -> AsyncIterator[Event]:
    """Follow a task another server process (or machine) runs, until its run has finished:
    the rows after the last seq sent, read again after each ``wait`` (a NOTIFY wake-up on
    PostgreSQL, else ``every_s``), so a stream resumed anywhere has no gap and no duplicate."""
    key = "task:" + task_id
    woken = wakeups.listen(key) if wakeups is not None else None
    try:
        async for event in _follow(store, task_id, after, every_s, woken):
            yield event
    finally:
        if wakeups is not None and woken is not None:
            wakeups.unlisten(key, woken)


async def _follow(store: Store, task_id: str, after: int, every_s: float,
                  woken: asyncio.Event | None) -> AsyncIterator[Event]:
    last = after
    last_kind: EventKind | None = None
    settled = 0
    while True:
        if woken is not None:
            woken.clear()  # set again by a NOTIFY that arrives while the rows are read
        task = store.get_task(task_id)
        for event in store.events(task_id, after_seq=last):
            last, last_kind = event.seq, event.kind
            yield event
        if task is None:
            return
        if task.status in TERMINAL:
            settled += 1
            if last_kind == EventKind.TASK_FINISHED or settled >= 3:
                return
        else:
            settled = 0
        if woken is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), max(every_s, FALLBACK_POLL_S))
        else:
            await asyncio.sleep(every_s)


async def sse_frames(
    source: AsyncIterator[Event], stop: asyncio.Event, settings: ApiSettings
) -> AsyncIterator[bytes]:
    """The SSE body: a retry hint, the events, comment pings while idle, then ``event: end``.

    Events that are ready together go out as one chunk (a replay is one write). Ends early,
    without ``end``, when ``stop`` is set (a draining server) or the source fails (the client
    reconnects with ``Last-Event-ID``). Pings every ``settings.keepalive_s``.
    """
    keepalive_s = settings.keepalive_s
    yield b"retry: 2000\n\n"
    ready: asyncio.Queue[Event | None] = asyncio.Queue()
    failed = False

    async def pump() -> None:
        nonlocal failed
        try:
            async for event in source:
                ready.put_nowait(event)
        except Exception:
            failed = True
            log.exception("event stream source failed")
        finally:
            ready.put_nowait(None)

    pumper = asyncio.create_task(pump())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        while True:
            getter = asyncio.ensure_future(ready.get())
            done, _ = await asyncio.wait({getter, stopper}, timeout=keepalive_s,
                                         return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                if stopper in done:
                    return
                yield b": ping\n\n"
                continue
            batch = [getter.result()]
            while not ready.empty():
                batch.append(ready.get_nowait())
            chunk = b"".join(format_event(e, settings) for e in batch if e is not None)
            if batch[-1] is None:
                yield chunk + (b"" if failed else END)
                return
            yield chunk
    finally:
        stopper.cancel()
        pumper.cancel()
        with contextlib.suppress(BaseException):
            await pumper
        with contextlib.suppress(BaseException):
            await source.aclose()  # type: ignore[attr-defined]
