"""RunPool: at most N company runs at once, a bounded FIFO queue, cancel, resume, shutdown (the
embedded SQLite default); ``make_pool`` picks it or the QueuePool (company.api.queue_pool)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from typing import TYPE_CHECKING

from company.api.claims import Claim
from company.api.errors import ApiError
from company.api.orphans import sweep_orphan_uploads
from company.api.settings import ApiSettings
from company.company import Company
from company.events import EventBus, EventKind
from company.payloads import VoiceRequestPayload
from company.run import INTERRUPT
from company.status import RUNNABLE, TERMINAL, TaskStatus

if TYPE_CHECKING:
    from company.api.queue_pool import QueuePool

log = logging.getLogger("company.api")

CANCELLED = "cancelled by request"
SHUTDOWN_NOTE = "the server is shutting down; the task resumes when it starts again"


class RunPool:
    """Runs stored tasks through the company, ``max_concurrent_runs`` at a time, FIFO."""

    audio_in_db = False
    """Uploaded voice notes stay on this machine's disk (the workspace)."""

    def __init__(self, company: Company, settings: ApiSettings) -> None:
        self.company = company
        self.store = company.store
        self.max_running = settings.max_concurrent_runs
        self.max_queue = settings.max_queue
        self.stopping = False
        self.stop_event = asyncio.Event()
        self._queue: deque[str] = deque()
        self._queued: set[str] = set()  # the same ids, for O(1) membership
        self._running: dict[str, asyncio.Task[None]] = {}
        self._entered: set[str] = set()
        self._interrupted: set[str] = set()
        self._started: set[asyncio.Task[None]] = set()
        self._watcher: asyncio.Task[None] | None = None

    # introspection -----------------------------------------------------
    def state(self, task_id: str) -> TaskStatus | None:
        """``running`` once the company runs it here, ``queued`` while it waits here."""
        if task_id in self._entered:
            return TaskStatus.RUNNING
        if task_id in self._running or task_id in self._queued:
            return TaskStatus.QUEUED
        return None

    def position(self, task_id: str) -> int | None:
        """1-based place in this server's queue, or None."""
        return self._queue.index(task_id) + 1 if task_id in self._queued else None

    @property
    def running(self) -> int:
        """Runs in progress here."""
        return len(self._running)

    @property
    def queued(self) -> int:
        """Tasks waiting here for a free slot."""
        return len(self._queue)

    def check_capacity(self) -> None:
        """Raise 503 when shutting down, 429 when the queue is full."""
        if self.stopping:
            raise ApiError(503, "the server is shutting down; try again shortly",
                           headers={"Retry-After": "5"})
        free_slots = max(0, self.max_running - len(self._running))
        if len(self._queue) >= self.max_queue + free_slots:
            raise ApiError(429, f"too many tasks waiting ({len(self._queue)} queued, "
                           f"{len(self._running)} running); try again later",
                           headers={"Retry-After": "2"})

    # submitting --------------------------------------------------------
    def submit(self, task_id: str, *, force: bool = False) -> None:
        """Queue a stored task (``force`` skips the capacity check, e.g. for resumes)."""
        if task_id in self._running or task_id in self._queued:
            return
        if not force:
            self.check_capacity()
        self._queue.append(task_id)
        self._queued.add(task_id)
        self._pump()

    def _pump(self) -> None:
        while not self.stopping and self._queue and len(self._running) < self.max_running:
            task_id = self._queue.popleft()
            self._queued.discard(task_id)
            run = asyncio.create_task(self._run(task_id), name=f"run {task_id}")
            run.add_done_callback(lambda fut, task_id=task_id: self._on_done(task_id, fut))
            self._running[task_id] = run

    async def _run(self, task_id: str) -> None:
        run = asyncio.current_task()
        assert run is not None
        self._started.add(run)
        claim = Claim(self.company.config.workspace, task_id)
        try:
            if not claim.acquire():
                log.info("task %s is being run by another server process; not running it", task_id)
                return
            task = self.store.get_task(task_id)
            if task is None or task.status not in RUNNABLE:
                return
            self._drop_stale_bus(task_id)
            self._entered.add(task_id)
            await self.company.run_task(task_id)  # with the options stored with the task
        except asyncio.CancelledError:
            if task_id in self._interrupted:
                self.store.update_task(task_id, status=TaskStatus.QUEUED, error=None)
            elif task_id not in self._entered:
                self._finish(task_id, TaskStatus.CANCELLED, CANCELLED)
        except Exception as exc:  # a run that raises instead of failing cleanly
            log.exception("task %s crashed", task_id)
            self._finish(task_id, TaskStatus.FAILED, f"{type(exc).__name__}: {exc}")
        finally:
            claim.release()
            self._cleanup(task_id, run)

    def _on_done(self, task_id: str, run: asyncio.Task[None]) -> None:
        """Clean up after a run cancelled before its first step (its body never ran)."""
        if run in self._started:
            self._started.discard(run)
            return
        if task_id not in self._interrupted:
            self._finish(task_id, TaskStatus.CANCELLED, CANCELLED)
        self._cleanup(task_id, run)

    def _cleanup(self, task_id: str, run: asyncio.Task[None]) -> None:
        if self._running.get(task_id) is not run:
            return
        self._entered.discard(task_id)
        self._interrupted.discard(task_id)
        self._close_orphan_bus(task_id)
        del self._running[task_id]
        self._pump()

    # buses ---------------------------------------------------------------
    def _live_bus(self, task_id: str) -> EventBus | None:
        return self.company.buses.live(task_id)

    def _drop_stale_bus(self, task_id: str) -> None:
        """Close a bus opened while another process was still writing this task's events."""
        bus = self._live_bus(task_id)
        if bus is not None and bus.last_seq != self.store.last_event_seq(task_id):
            self.company.buses.close(task_id)

    def _close_orphan_bus(self, task_id: str) -> None:
        """End the streams of a bus that was opened for a run that did not happen."""
        self.company.buses.close(task_id)

    def _finish(self, task_id: str, status: TaskStatus, error: str) -> None:
        """Record a final status the run itself could not record, and tell the streams."""
        self.store.update_task(task_id, status=status, error=error)
        bus = self.company.buses.open(task_id)
        bus.emit(EventKind.TASK_FINISHED, status=status, error=error)
        self.company.buses.close(task_id)

    # follow-ups and cancelling --------------------------------------------
    def follow_up(self, task_id: str, text: str, voice: VoiceRequestPayload | None) -> None:
        """Append a Boss message to a task that is not running, and queue it again."""
        if task_id in self._entered:
            raise ApiError(409, "the task is running; send the follow-up when it has finished")
        waiting_here = self.state(task_id) is TaskStatus.QUEUED
        if self.stopping or not waiting_here:
            self.check_capacity()
        with Claim(self.company.config.workspace, task_id) as claim:
            if not claim.acquire():
                raise ApiError(409, "the task is running in another server process; send the "
                               "follow-up when it has finished")
            self.company.add_boss_message(task_id, text, voice)
        if not waiting_here:
            self.submit(task_id, force=True)

    async def cancel(self, task_id: str) -> TaskStatus:
        """Stop a running task or take it out of the queue; return its status."""
        if task_id in self._running:
            run = self._running[task_id]
            run.cancel()
            await asyncio.wait({run}, timeout=15)
        elif task_id in self._queued:
            self._queue.remove(task_id)
            self._queued.discard(task_id)
            self._finish(task_id, TaskStatus.CANCELLED, CANCELLED)
        else:
            task = self.store.get_task(task_id)
            if task is None:
                raise ApiError(404, f"no task {task_id!r}")
            if task.status in TERMINAL:
                raise ApiError(409, f"the task is already {task.status}")
            with Claim(self.company.config.workspace, task_id) as claim:
                if claim.acquire():  # nobody runs it: finish it here
                    self._finish(task_id, TaskStatus.CANCELLED, CANCELLED)
                else:  # its owner's watcher sees this and stops the run
                    self.store.update_task(task_id, status=TaskStatus.CANCELLED, error=CANCELLED)
        task = self.store.get_task(task_id)
        return task.status if task is not None else TaskStatus.CANCELLED

    async def _watch_cancels(self, every_s: float = 1.0) -> None:
        """Stop local runs that another server process marked cancelled."""
        while True:
            await asyncio.sleep(every_s)
            try:
                for task_id in list(self._entered):
                    task = self.store.get_task(task_id)
                    run = self._running.get(task_id)
                    cancelled = task is not None and task.status is TaskStatus.CANCELLED
                    if cancelled and run and not run.done():
                        run.cancel()
            except Exception:  # keep watching; a store hiccup must not end the watcher
                log.exception("checking for cancelled tasks failed")

    # lifecycle -----------------------------------------------------------
    def start(self) -> None:
        """Sweep uploads a killed server left behind, then start the background watcher (call
        inside the event loop, before ``resume_stored``)."""
        try:
            sweep_orphan_uploads(self.company.config.workspace, self.store)
        except Exception:  # a sweep that fails must not stop the server
            log.exception("sweeping orphaned uploads failed")
        self._watcher = asyncio.create_task(self._watch_cancels(), name="cancel watcher")

    def resume_stored(self) -> int:
        """Queue every task the store has as running or queued (oldest first); return how many."""
        found = [
            *reversed(self.store.list_tasks(status=TaskStatus.RUNNING, limit=1_000_000)),
            *reversed(self.store.list_tasks(status=TaskStatus.QUEUED, limit=1_000_000)),
        ]
        for task in found:
            self.submit(task.id, force=True)
        if found:
            log.info("resuming %d stored task(s)", len(found))
        return len(found)

    def begin_stop(self) -> None:
        """Refuse new work (503) and end the event streams; runs go on until ``shutdown``."""
        self.stopping = True
        self.stop_event.set()

    async def shutdown(self, grace_s: float) -> None:
        """Stop accepting, let runs finish for ``grace_s``, then interrupt the rest resumably."""
        self.begin_stop()
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        for task_id in self._queue:
            self._close_orphan_bus(task_id)
        self._queued.clear()
        self._queue.clear()  # they stay queued in the store and resume on the next start
        runs = set(self._running.values())
        if runs and grace_s > 0:
            await asyncio.wait(runs, timeout=grace_s)
        for task_id, run in list(self._running.items()):
            if run.done():
                continue
            bus = self._live_bus(task_id)
            if bus is not None:
                bus.emit(EventKind.PROGRESS, message=SHUTDOWN_NOTE)
            self._interrupted.add(task_id)
            run.cancel(INTERRUPT)
        pending = [r for r in self._running.values() if not r.done()]
        if pending:
            await asyncio.wait(pending, timeout=15)


NO_RUNS_ENV = "COMPANY_SERVE_NO_RUNS"
"""Set by ``serve --no-runs``: the API nodes of this process accept, store and stream only."""


def make_pool(company: Company, settings: ApiSettings) -> RunPool | QueuePool:
    """The pool for this server: the in-process RunPool on the embedded SQLite default, the
    database queue when the store is shared (PostgreSQL) or the server runs nothing itself
    (``serve --no-runs``, workers do)."""
    from company.api.queue_pool import QueuePool

    no_runs = os.environ.get(NO_RUNS_ENV, "") not in ("", "0")
    if company.store.shared or no_runs:
        return QueuePool(company, settings, runs=not no_runs)
    return RunPool(company, settings)

