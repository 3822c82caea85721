"""``startup.py worker``: claims jobs from the database queue and runs them (company runs,
voice-note transcriptions), renewing its leases; the all-in-one server embeds one too.

A worker that dies loses its leases when they run out; another claims the jobs and resumes
each task from its message log and LLM journal (finished calls are not repeated). On SIGTERM a
worker stops claiming, lets runs finish for ``grace_s``, interrupts the rest resumably and hands
their jobs back, then exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field

from company.company import Company
from company.db.notify import Wakeups
from company.db.queue import Job, JobKind, JobQueue
from company.db.settings import QueueSettings
from company.events import EventKind
from company.run import INTERRUPT, LEASE_LOST
from company.status import RUNNABLE, TaskStatus

log = logging.getLogger("company.worker")
SWEEP_EVERY_S = 60.0
"""How often a worker deletes voice notes past their retention."""

KINDS: dict[str | None, tuple[JobKind, ...]] = {
    None: ("company", "transcribe"), "company": ("company",), "transcribe": ("transcribe",)}
"""``--only`` -> the job kinds a worker claims."""


@dataclass
class _Held:
    job: Job
    run: asyncio.Task[None]
    interrupted: bool = False
    lost: bool = False
    """The lease is (about to be) another worker's: leave the job row alone."""


@dataclass
class WorkerStats:
    """What a worker has done (for logs and tests)."""

    claimed: int = 0
    finished: int = 0
    handed_back: int = 0
    lost: int = 0
    task_ids: list[str] = field(default_factory=list)


def worker_name() -> str:
    """A name unique to this process: host, pid and a random tail."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs queued jobs of ``kinds``: ``concurrency`` company runs and ``transcribe_batch``
    transcriptions at once."""

    def __init__(self, company: Company, settings: QueueSettings, *, concurrency: int = 4,
                 kinds: tuple[JobKind, ...] = ("company", "transcribe"),
                 wakeups: Wakeups | None = None, name: str | None = None) -> None:
        self.company = company
        self.store = company.store
        self.settings = settings
        self.concurrency = concurrency
        self.kinds = kinds
        self.queue = JobQueue(company.store)
        self.wakeups = wakeups
        self.name = name or worker_name()
        self.stats = WorkerStats()
        self._held: dict[int, _Held] = {}
        self._stopping = asyncio.Event()
        self._changed = asyncio.Event()
        self._swept_at = float("-inf")

    # introspection -----------------------------------------------------
    def runs(self, task_id: str) -> bool:
        """True while this worker runs the task's company job."""
        return any(h.job.task_id == task_id and h.job.kind == "company"
                   for h in self._held.values())

    @property
    def running(self) -> int:
        """Jobs held now."""
        return len(self._held)

    def _free(self, kind: JobKind) -> int:
        held = sum(1 for h in self._held.values() if h.job.kind == kind)
        size = self.concurrency if kind == "company" else self.settings.transcribe_batch
        return size - held

    # the loop ----------------------------------------------------------
    def stop(self) -> None:
        """Stop claiming; ``serve`` then drains and returns."""
        self._stopping.set()
        self._changed.set()

    async def serve(self) -> None:
        """Claim and run jobs until ``stop``; then finish or hand back what is held."""
        keeper = asyncio.create_task(self._keep_leases(), name="lease keeper")
        keys = ["jobs:" + kind for kind in self.kinds]
        woken = [self.wakeups.listen(k) for k in keys] if self.wakeups is not None else []
        try:
            while not self._stopping.is_set():
                self._changed.clear()
                for event in woken:  # set again by a NOTIFY that arrives while claiming
                    event.clear()
                try:
                    self._claim()
                except Exception:  # a database hiccup: try again after the poll interval
                    log.exception("claiming jobs failed")
                await self._idle(woken)
        finally:
            if self.wakeups is not None:
                for key, event in zip(keys, woken, strict=True):
                    self.wakeups.unlisten(key, event)
            await self._drain()  # leases are still renewed while runs finish
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    def _claim(self) -> None:
        for kind in self.kinds:
            free = self._free(kind)
            if free <= 0:
                continue
            for job in self.queue.claim(self.name, (kind,), free, self.settings.lease_s):
                self.stats.claimed += 1
                run = asyncio.create_task(self._run(job), name=f"{job.kind} {job.task_id}")
                self._held[job.id] = _Held(job, run)
                run.add_done_callback(lambda _f, job_id=job.id: self._done(job_id))

    async def _idle(self, woken: list[asyncio.Event]) -> None:
        """Wait for a free slot, a NOTIFY of new work (when a slot is free), ``stop`` or the
        poll interval."""
        events = [self._changed]
        if any(self._free(kind) > 0 for kind in self.kinds):
            events += woken
        waits = [asyncio.ensure_future(event.wait()) for event in events]
        try:
            await asyncio.wait(waits, timeout=self.settings.poll_s,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    def _done(self, job_id: int) -> None:
        self._held.pop(job_id, None)
        self._changed.set()

    # leases and cancels ------------------------------------------------
    async def _keep_leases(self) -> None:
        """Renew held leases; interrupt runs whose lease another worker took, and stop runs
        whose task was cancelled (by any API node)."""
        loop = asyncio.get_running_loop()
        renewed_at = loop.time()
        while True:
            await asyncio.sleep(self.settings.renew_s)
            try:
                self._renew()
                renewed_at = loop.time()
            except Exception:  # keep renewing: a hiccup must not end the keeper
                log.exception("renewing leases failed")
                if loop.time() - renewed_at > self.settings.lease_s * 0.8:
                    self._give_up_all()  # cut off: others may claim our tasks any moment

    def _give_up_all(self) -> None:
        """Stop every held run without writing (the leases are about to run out unrenewed)."""
        for h in self._held.values():
            if not h.run.done():
                log.warning("cannot renew the lease of %s %s; stopping it here", h.job.kind,
                            h.job.task_id)
                self.stats.lost += 1
                h.lost = True
                h.run.cancel(LEASE_LOST)

    def _renew(self) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._swept_at >= SWEEP_EVERY_S:
            self._swept_at = now
            from company.db.audio import sweep_blobs

            if swept := sweep_blobs(self.store):
                log.info("deleted %d voice note(s) past their retention", swept)
        held = list(self._held.values())
        lost = self.queue.renew(self.name, [h.job.id for h in held], self.settings.lease_s)
        for h in held:
            if h.job.id in lost and not h.run.done():
                log.warning("lost the lease of %s %s; stopping it here", h.job.kind,
                            h.job.task_id)
                self.stats.lost += 1
                h.lost = True
                h.run.cancel(LEASE_LOST)
            elif h.job.kind == "company" and not h.run.done():
                task = self.store.get_task(h.job.task_id)
                if task is not None and task.status is TaskStatus.CANCELLED:
                    h.run.cancel()

    # running -----------------------------------------------------------
    async def _run(self, job: Job) -> None:
        held = self._held.get(job.id)
        try:
            if job.kind == "transcribe":
                from company.db.audio import transcribe_job

                await transcribe_job(self.company, self.queue, self.name, job)
            else:
                await self._run_company(job)
            if self.queue.finish(self.name, job.id):
                self.stats.finished += 1
                self.stats.task_ids.append(job.task_id)
        except asyncio.CancelledError:
            held = held or self._held.get(job.id)
            if held is not None and held.lost:
                pass  # not ours any more: the lease runs out and another worker resumes it
            elif held is not None and held.interrupted:
                if self.queue.release(self.name, job.id):
                    self.stats.handed_back += 1
            else:  # cancelled by request: the run recorded it
                self.queue.finish(self.name, job.id)
            raise
        except Exception as exc:
            log.exception("%s job of task %s failed", job.kind, job.task_id)
            self._fail(job.task_id, f"{type(exc).__name__}: {exc}")
            self.queue.finish(self.name, job.id)

    async def _run_company(self, job: Job) -> None:
        task = self.store.get_task(job.task_id)
        if task is None or task.status not in RUNNABLE:
            return
        if job.attempts > self.settings.max_attempts:
            self._fail(job.task_id, f"given up after {job.attempts - 1} attempts: the workers "
                       "running this task stopped without finishing it (killed, or out of "
                       "memory?)")
            return
        buses = self.company.buses
        bus = buses.live(job.task_id)
        if bus is not None and bus.last_seq != self.store.last_event_seq(job.task_id):
            buses.close(job.task_id)  # a bus left from an earlier run here: reopen from rows
        log.info("running task %s (attempt %d)", job.task_id, job.attempts)
        await self.company.run_task(job.task_id)

    def _fail(self, task_id: str, error: str) -> None:
        self.store.update_task(task_id, status=TaskStatus.FAILED, error=error)
        bus = self.company.buses.open(task_id)
        bus.emit(EventKind.TASK_FINISHED, status=TaskStatus.FAILED, error=error)
        self.company.buses.close(task_id)

    async def _drain(self) -> None:
        """Let held runs finish for ``grace_s``, then interrupt the rest and hand them back."""
        runs = [h.run for h in self._held.values()]
        if runs and self.settings.grace_s > 0:
            await asyncio.wait(runs, timeout=self.settings.grace_s)
        for h in list(self._held.values()):
            if not h.run.done():
                h.interrupted = True
                h.run.cancel(INTERRUPT)
        pending = [h.run for h in self._held.values() if not h.run.done()]
        if pending:
            await asyncio.wait(pending, timeout=15)

    def cancel_local(self, task_id: str) -> asyncio.Task[None] | None:
        """Cancel this worker's run of the task (a user's cancel); the run to await, or None."""
        for h in self._held.values():
            if h.job.task_id == task_id and h.job.kind == "company" and not h.run.done():
                h.run.cancel()
                return h.run
        return None
