"""The work queue in the database, on both backends: one job per task and kind, exclusive
claims (SKIP LOCKED on PostgreSQL), leases that run out and are claimed again, renewals that
tell a worker it lost a job, hand-backs and cancels."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from company.db.queue import JobQueue
from company.store import Store
from tests.pg_support import pg_server, store_location  # noqa: F401  (fixtures)


@pytest.fixture
def db(store_location: str | Path) -> Iterator[Store]:  # noqa: F811
    store = Store(store_location)
    yield store
    store.close()


def test_one_job_per_task_and_kind_claimed_by_one_worker(db: Store) -> None:
    queue = JobQueue(db)
    assert queue.enqueue("t1") and not queue.enqueue("t1")
    assert queue.enqueue("t1", "transcribe") and queue.enqueue("t2")
    assert queue.state("t1") == "queued" and queue.position("t2") == 2
    jobs = queue.claim("a", ("company",), 5, 30)
    assert [j.task_id for j in jobs] == ["t1", "t2"] and all(j.attempts == 1 for j in jobs)
    assert queue.claim("b", ("company",), 5, 30) == []
    assert queue.state("t1") == "leased" and queue.position("t1") is None
    assert queue.counts() == (1, 2)  # t1's transcription waits; two runs held
    assert queue.renew("a", [j.id for j in jobs], 30) == set()
    assert queue.renew("b", [jobs[0].id], 30) == {jobs[0].id}  # b holds nothing
    assert not queue.finish("b", jobs[0].id) and queue.finish("a", jobs[0].id)
    assert queue.release("a", jobs[1].id)
    again = queue.claim("b", ("company",), 5, 30)
    assert [(j.task_id, j.attempts) for j in again] == [("t2", 2)]


def test_an_expired_lease_is_claimed_again_and_its_old_holder_learns_it(db: Store) -> None:
    queue = JobQueue(db)
    queue.enqueue("t1")
    [job] = queue.claim("dead", ("company",), 1, 0.2)
    assert queue.claim("alive", ("company",), 1, 30) == []
    time.sleep(0.4)
    assert queue.state("t1") == "queued"  # nobody alive holds it
    [again] = queue.claim("alive", ("company",), 1, 30)
    assert again.id == job.id and again.attempts == 2
    assert queue.renew("dead", [job.id], 30) == {job.id}
    assert not queue.finish("dead", job.id)
    assert queue.finish("alive", job.id) and queue.state("t1") is None


def test_a_cancel_takes_only_a_waiting_job(db: Store) -> None:
    queue = JobQueue(db)
    queue.enqueue("t1")
    queue.enqueue("t2")
    queue.claim("a", ("company",), 1, 30)
    assert not queue.drop_queued("t1")  # held: its worker stops it
    assert queue.drop_queued("t2") and queue.state("t2") is None


def test_concurrent_claimers_take_every_job_exactly_once(db: Store) -> None:
    stores = [Store(db.target) for _ in range(4)]
    queue = JobQueue(db)
    for n in range(200):
        queue.enqueue(f"t{n:03d}")
    taken: list[list[str]] = [[] for _ in stores]

    def claimer(i: int) -> None:
        mine = JobQueue(stores[i])
        while True:
            jobs = mine.claim(f"w{i}", ("company",), 3, 30)
            if not jobs:
                return
            for job in jobs:
                taken[i].append(job.task_id)
                mine.finish(f"w{i}", job.id)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    every = sorted(t for part in taken for t in part)
    assert every == [f"t{n:03d}" for n in range(200)]
    assert queue.counts() == (0, 0)
