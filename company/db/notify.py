"""Wake-ups across nodes: one PostgreSQL connection LISTENs (``company_events`` carries
``task_id:seq`` for every stored event, ``company_jobs`` the kind of every queued job) and
wakes the waiters of this process. A notification is only a hint: readers always read the rows,
and wait with a timeout, so one lost while reconnecting costs latency, never an event."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable

log = logging.getLogger("company.db")

EVENTS = "company_events"
JOBS = "company_jobs"


class Wakeups:
    """Per-key asyncio events that notifications set (keys: a task id, or a job kind)."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)

    def wake(self, key: str) -> None:
        """Wake every waiter on ``key``."""
        for event in self._waiters.get(key, ()):
            event.set()

    def wake_all(self) -> None:
        """Wake every waiter (after a reconnect: what passed meanwhile is unknown)."""
        for key in list(self._waiters):
            self.wake(key)

    def listen(self, key: str) -> asyncio.Event:
        """An event that every wake of ``key`` sets until ``unlisten`` (clear it before each
        read: a wake during the read is then not lost)."""
        event = asyncio.Event()
        self._waiters[key].add(event)
        return event

    def unlisten(self, key: str, event: asyncio.Event) -> None:
        """Stop waking ``event``."""
        waiters = self._waiters.get(key)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._waiters[key]


class Listener:
    """LISTENs on the channels and hands each notification to ``on_notify(channel, payload)``;
    reconnects after a lost connection."""

    def __init__(self, url: str, channels: tuple[str, ...],
                 on_notify: Callable[[str, str], None]) -> None:
        self.url = url
        self.channels = channels
        self.on_notify = on_notify
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start listening (inside the event loop)."""
        self._task = asyncio.create_task(self._run(), name="pg listener")

    async def stop(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url,
                                                                 autocommit=True) as conn:
                    for channel in self.channels:
                        await conn.execute(f"LISTEN {channel}")  # type: ignore[arg-type]
                    for channel in self.channels:  # catch up on what passed while away
                        self.on_notify(channel, "")
                    async for note in conn.notifies():
                        self.on_notify(note.channel, note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("LISTEN connection lost (%s); reconnecting", exc)
                await asyncio.sleep(1.0)


def event_wakeups(wakeups: Wakeups) -> Callable[[str, str], None]:
    """A notification handler: ``company_events`` wakes the task's streams, ``company_jobs``
    the workers waiting for that kind (an empty payload wakes everyone)."""
    def on_notify(channel: str, payload: str) -> None:
        if channel == EVENTS:
            if payload:
                wakeups.wake("task:" + payload.rsplit(":", 1)[0])
            else:
                wakeups.wake_all()
        elif channel == JOBS:
            for kind in ((payload,) if payload else ("company", "transcribe")):
                wakeups.wake("jobs:" + kind)

    return on_notify
