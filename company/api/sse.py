"""Server-Sent Events of a task's event stream: replay first, then live, ``id:`` = seq."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from company.api.state import ApiState
from company.events import Event, EventKind
from company.store import Store

log = logging.getLogger("company.api")
TERMINAL = ("done", "failed", "cancelled")
END = b"event: end\ndata: {}\n\n"


def format_event(event: Event) -> bytes:
    """One SSE frame: ``id`` is the event's seq, ``data`` the event as JSON."""
    return f"id: {event.seq}\ndata: {event.model_dump_json()}\n\n".encode()


def event_source(api: ApiState, task_id: str, after: int) -> AsyncIterator[Event]:
    """Events with seq > ``after``: from the live bus when this process runs the task,
    from the stored history when it is finished, else by polling the store."""
    company = api.company
    if api.pool.state(task_id) is not None:
        return company.open_bus(task_id).subscribe(after_seq=after)
    task = company.store.get_task(task_id)
    if task is None or task.status in TERMINAL:
        return company.bus(task_id).subscribe(after_seq=after)
    return poll_store(company.store, task_id, after, api.settings.poll_s)


async def poll_store(
    store: Store, task_id: str, after: int, every_s: float
) -> AsyncIterator[Event]:
    """Follow a task another server process runs, until its run has finished."""
    last = after
    last_kind: EventKind | None = None
    settled = 0
    while True:
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
        await asyncio.sleep(every_s)


async def sse_frames(
    source: AsyncIterator[Event], stop: asyncio.Event, keepalive_s: float
) -> AsyncIterator[bytes]:
    """The SSE body: a retry hint, the events, comment pings while idle, then ``event: end``.

    Events that are ready together go out as one chunk (a replay is one write). Ends early,
    without ``end``, when ``stop`` is set (a draining server) or the source fails (the client
    reconnects with ``Last-Event-ID``).
    """
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
            chunk = b"".join(format_event(e) for e in batch if e is not None)
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
