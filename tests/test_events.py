"""The event bus: seq order, persistence through its sink, backlog then live events for
subscribers, and what subscribing before, during and after close() gives."""

from __future__ import annotations

import asyncio
from pathlib import Path

from company.events import Event, EventBus, EventKind
from company.store import Store


async def collect(bus: EventBus, after_seq: int = 0) -> list[int]:
    """The seqs one subscription yields until the bus closes."""
    return [event.seq async for event in bus.subscribe(after_seq)]


def test_emit_numbers_events_from_one_in_order() -> None:
    bus = EventBus("t1")
    first = bus.emit(EventKind.TASK_STARTED, request="hi")
    second = bus.emit(EventKind.MESSAGE, role="Analyst")
    assert (first.seq, second.seq, bus.last_seq) == (1, 2, 2)
    assert (first.task_id, first.kind, first.data) == ("t1", EventKind.TASK_STARTED,
                                                       {"request": "hi"})
    assert [e.seq for e in bus.history] == [1, 2]
    bus.history.clear()  # a copy: the bus's own history is untouched
    assert len(bus.history) == 2


def test_the_sink_sees_every_event_before_it_is_returned() -> None:
    persisted: list[Event] = []
    bus = EventBus("t1", sink=persisted.append)
    events = [bus.emit(EventKind.PROGRESS, step=i) for i in range(3)]
    assert persisted == events == bus.history


def test_events_persist_in_the_store_and_a_reopened_bus_continues_their_seq(
        tmp_path: Path) -> None:
    store = Store(tmp_path / "company.db")
    try:
        bus = EventBus("t1", sink=store.append_event)
        bus.emit(EventKind.TASK_STARTED)
        bus.emit(EventKind.LLM_CALL, role="Planner", prompt_tokens=3)
        stored = store.events("t1")
        assert [(e.seq, e.kind) for e in stored] == [(1, EventKind.TASK_STARTED),
                                                      (2, EventKind.LLM_CALL)]
        assert stored[1].data == {"role": "Planner", "prompt_tokens": 3}
        again = EventBus("t1", start_seq=store.last_event_seq("t1"), sink=store.append_event,
                         history=stored)
        assert again.emit(EventKind.TASK_FINISHED).seq == 3
        assert [e.seq for e in store.events("t1")] == [1, 2, 3]
        assert [e.seq for e in store.events("t1", after_seq=2)] == [3]
    finally:
        store.close()


async def test_a_subscriber_gets_the_backlog_then_live_events_until_close() -> None:
    bus = EventBus("t1")
    bus.emit(EventKind.TASK_STARTED)
    bus.emit(EventKind.ROUND_STARTED)
    reader = asyncio.create_task(collect(bus, after_seq=1))
    await asyncio.sleep(0)  # the subscription takes its backlog now
    bus.emit(EventKind.MESSAGE)
    bus.emit(EventKind.TASK_FINISHED)
    bus.close()
    assert await asyncio.wait_for(reader, 2) == [2, 3, 4]


async def test_every_subscriber_sees_every_event_once() -> None:
    bus = EventBus("t1")
    bus.emit(EventKind.TASK_STARTED)
    readers = [asyncio.create_task(collect(bus)) for _ in range(3)]
    await asyncio.sleep(0)
    for _ in range(3):
        bus.emit(EventKind.PROGRESS)
    bus.close()
    results = await asyncio.wait_for(asyncio.gather(*readers), 2)
    assert results == [[1, 2, 3, 4]] * 3


async def test_events_emitted_while_the_backlog_is_read_come_once_in_order() -> None:
    bus = EventBus("t1")
    for _ in range(3):
        bus.emit(EventKind.PROGRESS)
    seen: list[int] = []
    async for event in bus.subscribe():
        seen.append(event.seq)
        if event.seq == 1:
            bus.emit(EventKind.PROGRESS)  # lands in the queue while 2 and 3 are still backlog
        if event.seq == 4:
            bus.close()
    assert seen == [1, 2, 3, 4]


async def test_subscribing_after_close_gives_the_history_and_ends() -> None:
    bus = EventBus("t1")
    bus.emit(EventKind.TASK_STARTED)
    bus.emit(EventKind.TASK_FINISHED)
    bus.close()
    assert bus.closed
    assert await asyncio.wait_for(collect(bus), 2) == [1, 2]
    assert await asyncio.wait_for(collect(bus, after_seq=2), 2) == []


async def test_a_closed_bus_built_from_history_replays_it() -> None:
    history = [Event(seq=i, task_id="t1", kind=EventKind.PROGRESS) for i in (1, 2, 3)]
    bus = EventBus("t1", start_seq=3, history=history)
    bus.close()
    assert await asyncio.wait_for(collect(bus, after_seq=1), 2) == [2, 3]


async def test_a_finished_subscription_leaves_no_queue_behind() -> None:
    bus = EventBus("t1")
    bus.emit(EventKind.TASK_STARTED)
    reader = asyncio.create_task(collect(bus))
    await asyncio.sleep(0)
    bus.close()
    await asyncio.wait_for(reader, 2)
    assert bus._queues == []  # close() reached the one subscriber, and it left
