"""LISTEN/NOTIFY on PostgreSQL: a stored event wakes the streams of its task on every node, a
queued job wakes the workers of its kind; a waiter registered before a read misses nothing."""

from __future__ import annotations

import asyncio

from company.db.notify import EVENTS, JOBS, Listener, Wakeups, event_wakeups
from company.db.queue import JobQueue
from company.events import Event, EventKind
from company.store import Store
from tests.pg_support import pg_server, pg_url  # noqa: F401  (fixtures)


async def test_stored_events_and_queued_jobs_wake_their_waiters(pg_url: str) -> None:  # noqa: F811
    store = Store(pg_url)
    wakeups = Wakeups()
    got: list[tuple[str, str]] = []
    handler = event_wakeups(wakeups)

    def on_notify(channel: str, payload: str) -> None:
        got.append((channel, payload))
        handler(channel, payload)

    listener = Listener(store.target.libpq_url(), (EVENTS, JOBS), on_notify)
    task_events = wakeups.listen("task:t1")
    other_task = wakeups.listen("task:t2")
    company_jobs = wakeups.listen("jobs:company")
    listener.start()
    try:
        await asyncio.wait_for(task_events.wait(), 10)  # the catch-up wake on connecting
        for event in (task_events, other_task, company_jobs):
            event.clear()
        store.append_event(Event(seq=1, task_id="t1", kind=EventKind.PROGRESS))
        await asyncio.wait_for(task_events.wait(), 10)
        JobQueue(store).enqueue("t1")
        await asyncio.wait_for(company_jobs.wait(), 10)
        assert not other_task.is_set()
        assert (EVENTS, "t1:1") in got and (JOBS, "company") in got
    finally:
        await listener.stop()
        wakeups.unlisten("task:t1", task_events)
        store.close()
