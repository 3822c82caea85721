"""Workers on the database queue (both backends), in one process: every queued task runs once
to its report; a worker that stops renewing loses its task to another, which resumes it from
the log and the LLM journal without repeating finished calls; a stopping worker hands its runs
back; a cancel from the API reaches the worker that runs the task."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from company.api.queue_pool import QueuePool
from company.api.settings import ApiSettings
from company.company import Company
from company.config import AppConfig
from company.db.queue import JobQueue
from company.db.settings import QueueSettings
from company.llm.scripted import ScriptedProvider
from company.status import TaskStatus
from company.store import Store
from company.worker import Worker
from tests.pg_support import pg_server, store_location  # noqa: F401  (fixtures)
from tests.runtime_support import standard_script


def company_on(config: AppConfig, location: str | Path, provider: ScriptedProvider) -> Company:
    """A company with its own connection to the shared store (as another process has)."""
    return Company(config, store=Store(location), provider=provider)


@contextlib.asynccontextmanager
async def serving(worker: Worker) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(worker.serve())
    try:
        yield task
    finally:
        worker.stop()
        await asyncio.wait_for(task, 30)


async def until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until ``check()`` holds (a bounded wait, not a timed assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "gave up waiting"
        await asyncio.sleep(0.05)


def settings(**kw: Any) -> QueueSettings:
    return QueueSettings(poll_s=0.05, **kw)


async def test_every_queued_task_runs_once_to_its_report(
        config: AppConfig, store_location: str | Path) -> None:  # noqa: F811
    provider = standard_script()
    company = company_on(config, store_location, provider)
    ids = [company.create_task(f"request {n}") for n in range(3)]
    for task_id in ids:
        JobQueue(company.store).enqueue(task_id)
    worker = Worker(company, settings(), concurrency=2)
    async with serving(worker):
        await until(lambda: all(company.store.get_task(t).status is TaskStatus.DONE  # type: ignore[union-attr]
                                for t in ids))
    assert sorted(worker.stats.task_ids) == sorted(ids)
    assert JobQueue(company.store).counts() == (0, 0)
    for task_id in ids:
        task = company.store.get_task(task_id)
        assert task is not None and task.report and task.report.startswith("# Report")
        seqs = [m.seq for m in company.store.messages(task_id)]
        assert seqs == list(range(1, len(seqs) + 1))
    assert len(provider.calls_for("AnalyzeRequest")) == 3


async def test_a_task_whose_worker_stops_renewing_resumes_on_another(
        config: AppConfig, store_location: str | Path) -> None:  # noqa: F811
    stuck = asyncio.Event()

    async def hang(_request: object) -> str:
        stuck.set()
        await asyncio.Event().wait()  # never answers: the worker is as good as dead
        return ""

    first = standard_script(WritePlan=hang)
    second = standard_script()
    a = company_on(config, store_location, first)
    b = company_on(config, store_location, second)
    task_id = a.create_task("add 6 and 7")
    JobQueue(a.store).enqueue(task_id)
    dead = Worker(a, settings(lease_s=0.6, renew_every_s=60), concurrency=1, name="dead")
    alive = Worker(b, settings(lease_s=30), concurrency=1, name="alive")
    async with serving(dead):
        await asyncio.wait_for(stuck.wait(), 30)
        async with serving(alive):
            await until(lambda: b.store.get_task(task_id).status  # type: ignore[union-attr]
                        is TaskStatus.DONE)
        dead._renew()  # its next renewal finds the lease gone and stops its run silently
        assert dead.stats.lost == 1
    task = b.store.get_task(task_id)
    assert task is not None and task.status is TaskStatus.DONE and task.report
    assert len(first.calls_for("AnalyzeRequest")) == 1
    assert second.calls_for("AnalyzeRequest") == []  # replayed from the journal
    assert len(second.calls_for("WritePlan")) == 1
    seqs = [m.seq for m in b.store.messages(task_id)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert alive.stats.task_ids == [task_id] and dead.stats.task_ids == []


async def test_a_stopping_worker_hands_its_run_back(
        config: AppConfig, store_location: str | Path) -> None:  # noqa: F811
    gate = asyncio.Event()

    async def wait_for_gate(_request: object) -> Any:
        gate.set()
        await asyncio.Event().wait()

    a = company_on(config, store_location, standard_script(WritePlan=wait_for_gate))
    task_id = a.create_task("add 6 and 7")
    JobQueue(a.store).enqueue(task_id)
    worker = Worker(a, settings(grace_s=0.1), concurrency=1)
    async with serving(worker):
        await asyncio.wait_for(gate.wait(), 30)
    assert worker.stats.handed_back == 1
    task = a.store.get_task(task_id)
    assert task is not None and task.status is TaskStatus.QUEUED
    assert JobQueue(a.store).state(task_id) == "queued"
    b = company_on(config, store_location, standard_script())
    async with serving(Worker(b, settings(), concurrency=1)):
        await until(lambda: b.store.get_task(task_id).status  # type: ignore[union-attr]
                    is TaskStatus.DONE)


async def test_a_cancel_from_an_api_node_stops_the_run_on_a_worker(
        config: AppConfig, store_location: str | Path) -> None:  # noqa: F811
    gate = asyncio.Event()

    async def wait_for_gate(_request: object) -> Any:
        gate.set()
        await asyncio.Event().wait()

    a = company_on(config, store_location, standard_script(WritePlan=wait_for_gate))
    api = company_on(config, store_location, standard_script())
    pool = QueuePool(api, ApiSettings(), runs=False)
    task_id = api.create_task("add 6 and 7")
    pool.submit(task_id)
    worker = Worker(a, settings(renew_every_s=0.1), concurrency=1)
    async with serving(worker):
        await asyncio.wait_for(gate.wait(), 30)
        assert await pool.cancel(task_id) is TaskStatus.CANCELLED
        await until(lambda: worker.running == 0)
    task = a.store.get_task(task_id)
    assert task is not None and task.status is TaskStatus.CANCELLED
    assert JobQueue(a.store).state(task_id) is None
    queued = api.create_task("never runs")
    pool.submit(queued)
    assert await pool.cancel(queued) is TaskStatus.CANCELLED
    assert JobQueue(a.store).state(queued) is None


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPANY_DATABASE_URL", raising=False)


async def test_a_task_whose_workers_keep_dying_fails_instead_of_looping(
        config: AppConfig, store_location: str | Path) -> None:  # noqa: F811
    a = company_on(config, store_location, standard_script())
    task_id = a.create_task("add 6 and 7")
    queue = JobQueue(a.store)
    queue.enqueue(task_id)
    queue.claim("died", ("company",), 1, 0.1)
    await asyncio.sleep(0.3)
    async with serving(Worker(a, settings(max_attempts=1), concurrency=1)):
        await until(lambda: a.store.get_task(task_id).status  # type: ignore[union-attr]
                    is TaskStatus.FAILED)
    task = a.store.get_task(task_id)
    assert task is not None and "given up after 1 attempts" in (task.error or "")
    assert queue.state(task_id) is None


async def test_an_api_node_queues_the_stored_tasks_that_have_no_job(
        config: AppConfig, store_location: str | Path) -> None:  # noqa: F811
    api = company_on(config, store_location, standard_script())
    old = [api.create_task(f"stored before the queue {n}") for n in range(2)]  # no job rows
    api.store.update_task(old[1], status=TaskStatus.RUNNING)  # left running by a dead server
    done = api.create_task("finished")
    api.store.update_task(done, status=TaskStatus.DONE)
    pool = QueuePool(api, ApiSettings(), runs=False)
    assert pool.resume_stored() == 2 and pool.resume_stored() == 0
    queue = JobQueue(api.store)
    assert [queue.position(t) for t in old] == [1, 2] and queue.state(done) is None
    assert pool.queued == 2 and pool.running == 0 and pool.state(old[0]) is None


async def test_a_worker_cut_off_from_the_database_stops_its_runs_before_its_leases_end(
        config: AppConfig, store_location: str | Path) -> None:  # noqa: F811
    gate = asyncio.Event()

    async def wait_for_gate(_request: object) -> Any:
        gate.set()
        await asyncio.Event().wait()

    a = company_on(config, store_location, standard_script(WritePlan=wait_for_gate))
    task_id = a.create_task("add 6 and 7")
    JobQueue(a.store).enqueue(task_id)
    worker = Worker(a, settings(lease_s=1.0, renew_every_s=0.1), concurrency=1)

    def unreachable(*_: Any) -> Any:
        raise ConnectionError("the database is unreachable")

    async with serving(worker):
        await asyncio.wait_for(gate.wait(), 30)
        worker.queue.renew = unreachable  # type: ignore[method-assign]
        worker.queue.claim = unreachable  # type: ignore[method-assign]
        worker.queue.release = unreachable  # type: ignore[method-assign]
        await until(lambda: worker.running == 0)
        assert worker.stats.lost == 1 and worker.stats.handed_back == 0
    task = a.store.get_task(task_id)
    assert task is not None and task.status is TaskStatus.RUNNING  # nothing written: the
    assert task.error is None  # next holder resumes it from the log
    await until(lambda: JobQueue(a.store).state(task_id) == "queued")  # once the lease ends
