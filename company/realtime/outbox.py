"""A bounded queue of events for one client: a client that does not read is dropped, never
buffered without bound."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable

from pydantic import BaseModel


class SlowClient(Exception):
    """The client's queue stayed full for longer than allowed."""


class Outbox:
    """Events waiting for the socket: at most ``max_events`` and ``max_bytes``; ``put`` waits
    up to ``slow_s`` for room, then raises ``SlowClient``."""

    def __init__(self, send: Callable[[str], Awaitable[None]], *, max_events: int,
                 max_bytes: int, slow_s: float) -> None:
        self._send = send
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.slow_s = slow_s
        self._queue: deque[str] = deque()
        self._bytes = 0
        self._changed = asyncio.Event()
        self._closed = False
        self.sent = 0

    @property
    def pending(self) -> int:
        """Events not yet written to the socket."""
        return len(self._queue)

    def _fits(self, size: int) -> bool:
        if not self._queue:
            return True  # one event always fits, whatever its size
        return len(self._queue) < self.max_events and self._bytes + size <= self.max_bytes

    async def put(self, event: BaseModel) -> None:
        """Queue ``event``; wait for room at most ``slow_s`` (then ``SlowClient``)."""
        text = event.model_dump_json()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.slow_s
        while not self._fits(len(text)):
            if self._closed:
                return
            left = deadline - loop.time()
            if left <= 0:
                raise SlowClient(f"the client did not read its events for {self.slow_s:g} s "
                                 f"({len(self._queue)} queued, {self._bytes} bytes)")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        if self._closed:
            return
        self._queue.append(text)
        self._bytes += len(text)
        self._changed.set()

    def put_nowait(self, event: BaseModel) -> bool:
        """Queue ``event`` if it fits now (e.g. a last ``session.ended``); False when not."""
        text = event.model_dump_json()
        if self._closed or not self._fits(len(text)):
            return False
        self._queue.append(text)
        self._bytes += len(text)
        self._changed.set()
        return True

    async def run(self) -> None:
        """Write queued events to the socket, in order, until closed and drained."""
        while True:
            while not self._queue:
                if self._closed:
                    return
                self._changed.clear()
                await self._changed.wait()
            text = self._queue[0]
            await self._send(text)
            self._queue.popleft()
            self._bytes -= len(text)
            self.sent += 1
            self._changed.set()

    def close(self) -> None:
        """Accept nothing more; ``run`` returns once the queue is drained."""
        self._closed = True
        self._changed.set()
