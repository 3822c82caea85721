"""The one event stream: typed events that the CLI, HTTP, logs and tests all read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, Field

from company.message import utc_now


class EventKind(StrEnum):
    """What happened."""

    TASK_STARTED = "task_started"
    ROUND_STARTED = "round_started"
    ROLE_STARTED = "role_started"
    ROLE_FINISHED = "role_finished"
    MESSAGE = "message"
    LLM_CALL = "llm_call"
    BUDGET = "budget"
    GRAPH_NODE = "graph_node"
    PROGRESS = "progress"
    NOTEBOOK = "notebook"
    """Notes were added to the Boss's notebook (``notes``: their id, kind, status, text)."""
    ERROR = "error"
    TASK_INTERRUPTED = "task_interrupted"
    TASK_FINISHED = "task_finished"


class Event(BaseModel):
    """One event of a task's run; ``seq`` orders a task's events from 1."""

    seq: int = 0
    task_id: str
    kind: EventKind
    at: datetime = Field(default_factory=utc_now)
    data: dict[str, Any] = Field(default_factory=dict)


class EventBus:
    """Keeps a task's events in order, persists them, and feeds live subscribers."""

    def __init__(
        self,
        task_id: str,
        *,
        start_seq: int = 0,
        sink: Callable[[Event], None] | None = None,
        history: list[Event] | None = None,
    ) -> None:
        self.task_id = task_id
        self._seq = start_seq
        self._sink = sink
        self._history: list[Event] = list(history or [])
        self._queues: list[asyncio.Queue[Event | None]] = []
        self.closed = False

    def emit(self, kind: EventKind, **data: Any) -> Event:
        """Append an event, persist it, and hand it to every subscriber."""
        self._seq += 1
        event = Event(seq=self._seq, task_id=self.task_id, kind=kind, data=data)
        if self._sink is not None:
            self._sink(event)
        self._history.append(event)
        for queue in self._queues:
            queue.put_nowait(event)
        return event

    @property
    def last_seq(self) -> int:
        """The seq of the newest event (0 when none)."""
        return self._seq

    @property
    def history(self) -> list[Event]:
        """Every event so far."""
        return list(self._history)

    def close(self) -> None:
        """End every subscription once it has drained."""
        self.closed = True
        for queue in self._queues:
            queue.put_nowait(None)

    async def subscribe(self, after_seq: int = 0) -> AsyncIterator[Event]:
        """Yield past events with seq > after_seq, then live ones until the bus closes."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        backlog = [e for e in self._history if e.seq > after_seq]
        # Closed now: the backlog is everything. Closed later (even while the backlog is still
        # being yielded): the queue holds the rest, ended by close()'s None.
        closed_at_start = self.closed
        self._queues.append(queue)
        try:
            last = after_seq
            for event in backlog:
                last = event.seq
                yield event
            if closed_at_start:
                return
            while True:
                event = await queue.get()
                if event is None:
                    return
                if event.seq <= last:
                    continue
                last = event.seq
                yield event
        finally:
            self._queues.remove(queue)


class EventLog(Protocol):
    """Where events persist (the task store)."""

    def events(self, task_id: str) -> list[Event]:
        """A task's stored events, in order."""
        ...

    def append_event(self, event: Event) -> None:
        """Persist one event."""
        ...

    def last_event_seq(self, task_id: str) -> int:
        """The seq of a task's newest stored event (0 when none)."""
        ...


class EventBuses:
    """The live event buses of the tasks running in this process, backed by the event log."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self._buses: dict[str, EventBus] = {}

    def bus(self, task_id: str) -> EventBus:
        """The live bus of a running task, or a closed one holding its stored history."""
        if task_id in self._buses:
            return self._buses[task_id]
        bus = EventBus(task_id, history=self.log.events(task_id))
        bus.closed = True
        return bus

    def live(self, task_id: str) -> EventBus | None:
        """The bus of a task running in this process, or None."""
        bus = self._buses.get(task_id)
        return bus if bus is not None and not bus.closed else None

    def open(self, task_id: str) -> EventBus:
        """The task's live bus, created (with its stored history) if it has none yet."""
        live = self.live(task_id)
        if live is not None:
            return live
        history = self.log.events(task_id)
        bus = EventBus(task_id, start_seq=history[-1].seq if history else 0,
                       sink=self.log.append_event, history=history)
        self._buses[task_id] = bus
        return bus

    def writer(self, task_id: str) -> EventBus:
        """A bus to emit on: the live one, else a passing one that only appends to the log
        (for a task that is not running here, e.g. a Boss's follow-up)."""
        live = self.live(task_id)
        if live is not None:
            return live
        bus = EventBus(task_id, start_seq=self.log.last_event_seq(task_id),
                       sink=self.log.append_event)
        bus.closed = True
        return bus

    def close(self, task_id: str) -> None:
        """End a task's live bus (its subscribers drain and stop) and forget it."""
        bus = self._buses.pop(task_id, None)
        if bus is not None:
            bus.close()
