"""QueuePool: the API's side of the database queue (PostgreSQL, or ``serve --no-runs`` with
separate workers), with RunPool's face: submit, position, capacity, follow-ups, cancels,
start/shutdown; streams of tasks run elsewhere wake on NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from company.api.errors import ApiError
from company.api.pool import CANCELLED
from company.api.settings import ApiSettings
from company.company import Company
from company.db.audio import blob_id_of
from company.events import EventKind
from company.payloads import VoiceRequestPayload
from company.status import TERMINAL, TaskStatus

if TYPE_CHECKING:
    from company.db.queue import JobKind
    from company.worker import Worker


class QueuePool:
    """The API's side of the database queue: submitting queues a job row that any worker (or
    this server's own embedded worker, unless ``runs`` is off) claims; cancels reach the
    worker that holds the task through the task's status; streams wake on NOTIFY."""

    audio_in_db = True
    """Uploaded voice notes go into the database, for workers on other machines."""

    def __init__(self, company: Company, settings: ApiSettings, *, runs: bool = True) -> None:
        from company.db.notify import Wakeups
        from company.db.queue import JobQueue
        from company.db.settings import QueueSettings

        self.company = company
        self.store = company.store
        self.queue = JobQueue(company.store)
        self.queue_settings = QueueSettings.from_config(company.config.queue)
        self.max_running = settings.max_concurrent_runs
        self.max_queue = settings.max_queue
        self.runs = runs
        self.stopping = False
        self.stop_event = asyncio.Event()
        self.wakeups = Wakeups() if company.store.shared else None
        self.worker: Worker | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._listener: Any = None

    # introspection -----------------------------------------------------
    def state(self, task_id: str) -> TaskStatus | None:
        """``running`` when this server's own worker runs the task (its live bus streams)."""
        if self.worker is not None and self.worker.runs(task_id):
            return TaskStatus.RUNNING
        return None

    def position(self, task_id: str) -> int | None:
        """1-based place in the shared queue, or None."""
        return self.queue.position(task_id)

    @property
    def running(self) -> int:
        """Runs in progress in this server's own worker."""
        return self.worker.running if self.worker is not None else 0

    @property
    def queued(self) -> int:
        """Jobs waiting in the shared queue."""
        return self.queue.counts()[0]

    def check_capacity(self) -> None:
        """Raise 503 when shutting down, 429 when the shared queue is full."""
        if self.stopping:
            raise ApiError(503, "the server is shutting down; try again shortly",
                           headers={"Retry-After": "5"})
        waiting, held = self.queue.counts()
        if waiting >= self.max_queue + max(0, self.max_running - held):
            raise ApiError(429, f"too many tasks waiting ({waiting} queued, {held} running); "
                           "try again later", headers={"Retry-After": "2"})

    # submitting --------------------------------------------------------
    def submit(self, task_id: str, *, force: bool = False, kind: JobKind = "company") -> None:
        """Queue a stored task's job (``force`` skips the capacity check)."""
        if not force:
            self.check_capacity()
        self.queue.enqueue(task_id, kind)

    def follow_up(self, task_id: str, text: str, voice: VoiceRequestPayload | None) -> None:
        """Append a Boss message to a task no worker holds, and queue it again."""
        state = self.queue.state(task_id)
        if state == "leased":
            raise ApiError(409, "the task is running; send the follow-up when it has finished")
        if state is None:
            self.check_capacity()
        with self.store.transaction():
            self.company.add_boss_message(task_id, text, voice)
            self.queue.enqueue(task_id, "transcribe" if voice is not None and
                               blob_id_of(voice.audio_path) else "company")

    async def cancel(self, task_id: str) -> TaskStatus:
        """Stop a running task (wherever it runs) or take it out of the queue."""
        task = self.store.get_task(task_id)
        if task is None:
            raise ApiError(404, f"no task {task_id!r}")
        run = self.worker.cancel_local(task_id) if self.worker is not None else None
        if run is not None:
            await asyncio.wait({run}, timeout=15)
        elif self.queue.drop_queued(task_id) | self.queue.drop_queued(task_id, "transcribe"):
            self._finish(task_id, TaskStatus.CANCELLED, CANCELLED)
        elif task.status in TERMINAL:
            raise ApiError(409, f"the task is already {task.status}")
        elif self.queue.state(task_id) == "leased":  # its worker sees this and stops the run
            self.store.update_task(task_id, status=TaskStatus.CANCELLED, error=CANCELLED)
        else:
            self._finish(task_id, TaskStatus.CANCELLED, CANCELLED)
        task = self.store.get_task(task_id)
        return task.status if task is not None else TaskStatus.CANCELLED

    def _finish(self, task_id: str, status: TaskStatus, error: str) -> None:
        self.store.update_task(task_id, status=status, error=error)
        bus = self.company.buses.writer(task_id)
        bus.emit(EventKind.TASK_FINISHED, status=status, error=error)

    # lifecycle -----------------------------------------------------------
    def start(self) -> None:
        """Listen for NOTIFY (PostgreSQL) and start this server's own worker (unless
        ``runs`` is off); call inside the event loop."""
        from company.db.notify import EVENTS, JOBS, Listener, event_wakeups
        from company.worker import Worker

        if self.wakeups is not None:
            self._listener = Listener(self.store.target.libpq_url(), (EVENTS, JOBS),
                                      event_wakeups(self.wakeups))
            self._listener.start()
        if self.runs:
            self.worker = Worker(self.company, self.queue_settings,
                                 concurrency=self.max_running, wakeups=self.wakeups)
            self._worker_task = asyncio.create_task(self.worker.serve(), name="worker")

    def resume_stored(self) -> int:
        """Queue a job for every queued or running task that has none (tasks stored before
        the queue, or by a command-line run); return how many."""
        from company.message import utc_now

        return self.store.execute(
            "INSERT INTO jobs (task_id, kind, state, created_at) SELECT id, 'company', 'queued',"
            " ? FROM tasks WHERE status IN ('queued', 'running') AND NOT EXISTS"
            " (SELECT 1 FROM jobs WHERE jobs.task_id = tasks.id) ORDER BY created_at"
            " ON CONFLICT (task_id, kind) DO NOTHING", (utc_now().isoformat(),))

    def begin_stop(self) -> None:
        """Refuse new work (503) and end the event streams."""
        self.stopping = True
        self.stop_event.set()

    async def shutdown(self, grace_s: float) -> None:
        """Stop accepting; the own worker finishes or hands back its runs; stop listening."""
        self.begin_stop()
        if self.worker is not None and self._worker_task is not None:
            self.worker.settings = self.worker.settings.model_copy(update={"grace_s": grace_s})
            self.worker.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker_task
        if self._listener is not None:
            await self._listener.stop()

